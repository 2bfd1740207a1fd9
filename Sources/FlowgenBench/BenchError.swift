import FlowgenKernel
import FlowgenTestSupport
/// Why a benchmark could not run or produced a number it cannot trust.
public enum BenchError: Error, CustomStringConvertible, Sendable {
    /// A file the benchmark needs is missing.
    case missingFile(String)
    /// A file could not be parsed.
    case badFile(String, String)
    /// A program returned something other than TC_ACT_UNSPEC, so it did not run as measured.
    case unexpectedReturn(program: String, value: Int32)
    /// The new-flow method did not create one flow per repetition.
    case newFlowMethodFailed(program: String, expected: Int, found: Int)
    /// The traffic sender failed.
    case senderFailed(String)
    /// A helper program could not be compiled.
    case helperCompileFailed(String)
    /// A measurement failed its own check (it did not do the work it is timed for).
    case checkFailed(String, String)

    /// A one-line message.
    public var description: String {
        switch self {
        case .missingFile(let path):
            return "benchmark file \(path) is missing (is FLOWGEN_HOME pointing at a complete tree?)"
        case .badFile(let path, let why):
            return "cannot read \(path): \(why)"
        case .unexpectedReturn(let program, let value):
            return "\(program) returned \(value) instead of TC_ACT_UNSPEC (-1): the measurement would not be of the path intended"
        case .newFlowMethodFailed(let program, let expected, let found):
            return "new-flow run of \(program) left \(found) flows in its map, \(expected) expected: the driver did not make every repetition a new flow"
        case .senderFailed(let why):
            return "AF_PACKET sender failed: \(why)"
        case .helperCompileFailed(let log):
            return "compiling the AF_PACKET sender failed: \(log)"
        case .checkFailed(let what, let why):
            return "\(what) \(why): its time would not measure the work it stands for, so it is not reported"
        }
    }
}
