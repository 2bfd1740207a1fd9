/// What `ClangCompiler` builds from generated C: the BPF object the kernel loads, or a shared
/// library of the same translation unit for the machine flowgen runs on (`replay --engine native`).
/// The target's flags enter the cache key, so the two never share a cache entry.
public enum CompileTarget: String, Sendable, CaseIterable {
    /// `clang -target bpf`: the object libbpf loads (`obj.o`).
    case bpf
    /// The host (x86-64, arm64, ...): `-DFG_NATIVE`, position-independent shared library (`native.so`).
    case native

    /// Compiler flags, before the include directories and file names.
    public var flags: [String] {
        switch self {
        case .bpf:
            return ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Wno-unused-function"]
        case .native:
            // no -g: nothing reads the library's debug information, and it doubles the build time
            return ["-O2", "-DFG_NATIVE", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-strict-aliasing",
                    "-Wall", "-Wno-unused-function"]
        }
    }

    /// File name of the result inside a cache entry.
    public var outputName: String {
        switch self {
        case .bpf: return "obj.o"
        case .native: return "native.so"
        }
    }

    /// Whether clang only compiles (`-c`) or also links.
    var compilesOnly: Bool { self == .bpf }
}
