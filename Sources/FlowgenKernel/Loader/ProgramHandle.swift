/// A program of a loaded object as the kernel sees it (the fd stays owned by its `LoadedObject`).
public struct ProgramHandle: Sendable, Equatable {
    /// Function name of the program in the C source.
    public var name: String
    /// ELF section it came from, e.g. `tc`.
    public var section: String
    /// File descriptor, valid while the owning `LoadedObject` is open.
    public var fd: Int32
    /// Kernel program id (what `bpftool prog show` and tc filter listings print).
    public var id: UInt32
    /// Instructions the verifier processed (`bpf_prog_info.verified_insns`): the complexity that counts against the 1M limit.
    public var verifiedInstructions: UInt32
    /// Size in bytes of the program after kernel rewriting (8 bytes per instruction).
    public var translatedBytes: UInt32
    /// Size in bytes of the JIT-compiled machine code (0 without a JIT).
    public var jitedBytes: UInt32

    /// Creates a program description.
    public init(name: String, section: String, fd: Int32, id: UInt32, verifiedInstructions: UInt32,
                translatedBytes: UInt32, jitedBytes: UInt32) {
        self.name = name
        self.section = section
        self.fd = fd
        self.id = id
        self.verifiedInstructions = verifiedInstructions
        self.translatedBytes = translatedBytes
        self.jitedBytes = jitedBytes
    }
}
