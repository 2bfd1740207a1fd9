/// Failures of the native engine (`replay --engine native`): building the host library of a
/// monitor, loading it, or a library that does not match the plan. Each message says what to do.
public enum NativeError: Error, CustomStringConvertible, Sendable {
    /// clang could not compile or link the generated C for the host; `log` is its output.
    case compileFailed(log: String)
    /// `dlopen` refused the built library.
    case loadFailed(path: String, reason: String)
    /// The library lacks an entry point flowgen calls (built from another flowgen's templates).
    case symbolMissing(path: String, symbol: String)
    /// The library's entry points are of another version than this flowgen expects.
    case abiMismatch(path: String, found: UInt32, expected: UInt32)
    /// The library's key, record or table size differs from the plan's.
    case layoutMismatch(String)
    /// A map of the generated C could not be created natively (`code` is a negative errno).
    case mapFailed(code: Int32, mapType: UInt32)

    /// A one-paragraph message: what failed and what to do.
    public var description: String {
        switch self {
        case let .compileFailed(log):
            var hint = "A bpf_* helper without a host version in Templates/native.h shows above as an undeclared function: "
                + "add it there, or replay with --engine kernel."
            if log.contains("linker") || log.contains("cannot find") || log.contains("ld:") {
                hint = "Linking the shared library failed: install a linker for this machine (binutils' ld), or replay with --engine kernel."
            }
            return "clang could not build the generated C for this machine (the native replay engine):\n\(log)\n" + hint
        case let .loadFailed(path, reason):
            return "cannot load the native build \(path): \(reason); delete the cache entry (or choose another with --cache-dir) and run again"
        case let .symbolMissing(path, symbol):
            return "the native build \(path) has no entry point \(symbol): it was built from other templates than this flowgen's; "
                + "delete the cache entry or check FLOWGEN_HOME"
        case let .abiMismatch(path, found, expected):
            return "the native build \(path) speaks version \(found) of flowgen's native interface, this flowgen version \(expected): "
                + "its Templates/native.c is from another flowgen; check FLOWGEN_HOME"
        case let .layoutMismatch(problem):
            return "the native build does not match the plan: \(problem); check that Templates/ belong to this flowgen (FLOWGEN_HOME)"
        case let .mapFailed(code, mapType):
            switch -code {
            case 22: return "the generated C declares a map of type \(mapType), which the native engine does not implement: "
                + "replay with --engine kernel, or add the type to Templates/native.h"
            case 7: return "the generated C declares more maps than the native engine holds (FG_NATIVE_MAX_MAPS in Templates/native.h)"
            default: return "the native engine could not allocate its maps (out of memory): lower --max-flows"
            }
        }
    }
}
