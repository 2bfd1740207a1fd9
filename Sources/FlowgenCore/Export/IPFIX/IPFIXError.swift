import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Errors of IPFIX export and decoding.
public enum IPFIXError: Error, CustomStringConvertible, Equatable {
    /// An `--ipfix` URL that is not udp://HOST:PORT, tcp://HOST:PORT or file://PATH.
    case invalidDestination(String, String)
    /// The collector's host name did not resolve.
    case unresolvable(String, String)
    /// A socket call failed (operation, errno).
    case socket(String, Int32)
    /// The IPFIX file could not be opened (path, errno).
    case file(String, Int32)
    /// The IPFIX file was refused (a symlink, another user's file, not a regular file): the refusal, as
    /// `OutputFile.Refused` words it (a string, as that type lives with the file code in FlowgenKernel).
    case fileRefused(String)
    /// The plan's fields do not fit in one IPFIX record or template (the limit is 65535 octets).
    case templateTooLarge(Int)
    /// More than 16383 flowgen elements would be needed (reverse ids use bit 0x4000).
    case tooManyPrivateElements
    /// A module declares an enterprise element id that leaves no room for its RFC 5103 reverse.
    case elementIDOutOfRange(field: String, id: UInt16)
    /// Bytes that are not a well-formed IPFIX message.
    case malformed(String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .invalidDestination(url, why):
            return "invalid --ipfix destination '\(url)': \(why); use udp://HOST:PORT, tcp://HOST:PORT or file://PATH"
        case let .unresolvable(host, why):
            return "IPFIX collector '\(host)' does not resolve: \(why)"
        case let .socket(op, err):
            return "IPFIX \(op) failed: \(Errno(rawValue: err).description)"
        case let .file(path, err):
            return "cannot open IPFIX file '\(path)': \(Errno(rawValue: err).description); choose another path"
        case let .fileRefused(refused):
            return "IPFIX file refused: \(refused); choose another path"
        case let .templateTooLarge(n):
            return "the selected fields need \(n) octets per IPFIX record or template, more than a message holds (65515): select fewer features"
        case .tooManyPrivateElements:
            return "the selected fields need more than 16383 flowgen IPFIX elements"
        case let .elementIDOutOfRange(field, id):
            return "field \(field): enterprise element id \(id) leaves no room for its RFC 5103 reverse (bit 0x4000); use an id below 16384"
        case let .malformed(why):
            return "malformed IPFIX: \(why)"
        }
    }
}
