/// C sources generated from a `Plan`: one main translation unit plus the headers it includes.
public struct GeneratedSource: Sendable, Equatable {
    /// File name of the main translation unit, e.g. `flowgen.bpf.c`.
    public var mainFile: String
    /// Every file of the unit by name (main file and headers), written side by side before compiling.
    public var files: [String: String]
    /// Name of the entry program (the `SEC("tc")` function userland attaches).
    public var entryProgram: String

    /// Creates a source set.
    public init(mainFile: String, files: [String: String], entryProgram: String) {
        self.mainFile = mainFile
        self.files = files
        self.entryProgram = entryProgram
    }

    /// The main file's text.
    public var mainText: String { files[mainFile] ?? "" }
}
