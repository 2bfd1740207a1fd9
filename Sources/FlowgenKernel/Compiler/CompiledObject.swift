/// A BPF object file produced by `ClangCompiler`, living in the content-addressed cache.
public struct CompiledObject: Sendable, Equatable {
    /// Absolute path of the ELF object (`<cache>/<key>/obj.o`).
    public var objectPath: String
    /// SHA-256 hex of everything that determines the object (sources, headers, clang, flags, version).
    public var cacheKey: String
    /// True when the object came from the cache and no process was spawned.
    public var cacheHit: Bool
    /// Directory holding the generated sources the object was built from (for `--emit c` and debugging).
    public var sourceDirectory: String
    /// clang's warnings from the build that produced the object (kept beside it, so hits report them too).
    public var diagnostics: String

    /// Creates a description of a compiled object.
    public init(objectPath: String, cacheKey: String, cacheHit: Bool, sourceDirectory: String, diagnostics: String = "") {
        self.objectPath = objectPath
        self.cacheKey = cacheKey
        self.cacheHit = cacheHit
        self.sourceDirectory = sourceDirectory
        self.diagnostics = diagnostics
    }
}
