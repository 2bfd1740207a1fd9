import Foundation
import FlowgenCore
import FlowgenKernel

/// Why a testbed operation (namespace, veth, subprocess) failed.
public enum TestbedError: Error, CustomStringConvertible, Sendable {
    /// A command ran but exited non-zero (or was killed by a signal).
    case commandFailed(argv: [String], status: Int32, stderr: String)
    /// A command did not finish within its timeout and was killed.
    case timedOut(argv: [String], timeout: Duration)
    /// An executable the testbed needs is not installed.
    case executableNotFound(String)
    /// A system call failed; `errno` is its error number.
    case systemCall(String, errno: Int32)
    /// An address lies outside 198.18.0.0/15 and fd00::/8, the only ranges tests may use.
    case addressOutsideTestRanges(String)
    /// A namespace or interface name is empty, too long or contains characters `ip` rejects.
    case invalidName(String)
    /// The namespace was already destroyed.
    case namespaceDestroyed(String)
    /// The interface does not exist in the namespace.
    case interfaceNotFound(String, namespace: String)
    /// Nothing accepted TCP connections on the address and port before the deadline.
    case notListening(host: String, port: UInt16)

    /// A readable account of the failure, with the command line when there is one.
    public var description: String {
        switch self {
        case .commandFailed(let argv, let status, let stderr):
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(argv.joined(separator: " "))` exited with status \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        case .timedOut(let argv, let timeout):
            return "`\(argv.joined(separator: " "))` did not finish within \(timeout) and was killed"
        case .executableNotFound(let name):
            return "\(name) not found in PATH or /usr/sbin, /sbin, /usr/bin, /bin"
        case .systemCall(let call, let errno):
            return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .addressOutsideTestRanges(let address):
            return "address \(address) is outside 198.18.0.0/15 and fd00::/8, the only ranges tests may use"
        case .invalidName(let name):
            return "invalid namespace or interface name \"\(name)\""
        case .namespaceDestroyed(let name):
            return "network namespace \(name) was already destroyed"
        case .interfaceNotFound(let name, let namespace):
            return "no interface \(name) in network namespace \(namespace)"
        case .notListening(let host, let port):
            return "nothing listening on \(host) port \(port) before the deadline"
        }
    }
}
