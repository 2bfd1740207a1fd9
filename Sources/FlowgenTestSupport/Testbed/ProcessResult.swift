import FlowgenCore
import FlowgenKernel

/// The outcome of a finished command: exit status and everything it printed.
public struct ProcessResult: Sendable, Equatable {
    /// The command line that ran, for error messages.
    public let argv: [String]
    /// The exit status, or the signal number when `terminatedBySignal` is true.
    public let status: Int32
    /// True when a signal ended the process instead of exit().
    public let terminatedBySignal: Bool
    /// Standard output, decoded as UTF-8 (invalid bytes replaced).
    public let stdout: String
    /// Standard error, decoded as UTF-8 (invalid bytes replaced).
    public let stderr: String

    /// True for a normal exit with status 0.
    public var succeeded: Bool { status == 0 && !terminatedBySignal }

    /// Returns self when the command succeeded, so calls chain as `try ns.exec(argv).check()`.
    @discardableResult
    public func check() throws -> ProcessResult {
        guard succeeded else {
            throw TestbedError.commandFailed(argv: argv, status: status, stderr: stderr.isEmpty ? stdout : stderr)
        }
        return self
    }
}
