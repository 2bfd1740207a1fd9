/// Where IPFIX goes: a collector over UDP or TCP, or an IPFIX file (RFC 5655).
public enum IPFIXDestination: Sendable, Equatable, CustomStringConvertible {
    /// udp://HOST:PORT
    case udp(host: String, port: UInt16)
    /// tcp://HOST:PORT
    case tcp(host: String, port: UInt16)
    /// file://PATH (file:///abs/path or file://relative/path)
    case file(path: String)

    /// Parses `udp://HOST:PORT`, `tcp://HOST:PORT` (IPv6 literals in brackets; the port defaults
    /// to 4739) or `file://PATH`.
    public init(parsing url: String) throws {
        func fail(_ why: String) -> IPFIXError { .invalidDestination(url, why) }
        guard let schemeEnd = url.range(of: "://") else { throw fail("no scheme") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = String(url[schemeEnd.upperBound...])
        switch scheme {
        case "file":
            guard !rest.isEmpty else { throw fail("no path") }
            self = .file(path: rest)
        case "udp", "tcp":
            var host: String
            var portText: String?
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed '[' in the host") }
                host = String(rest[rest.index(after: rest.startIndex)..<close])
                let after = rest[rest.index(after: close)...]
                if after.hasPrefix(":") { portText = String(after.dropFirst()) } else if !after.isEmpty { throw fail("text after the host") }
            } else {
                let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count <= 2 else { throw fail("put an IPv6 address in brackets, e.g. udp://[::1]:4739") }
                host = String(parts[0])
                portText = parts.count == 2 ? String(parts[1]) : nil
            }
            if host.hasSuffix("/") { host.removeLast() }
            if let p = portText, p.hasSuffix("/") { portText = String(p.dropLast()) }
            guard !host.isEmpty else { throw fail("no host") }
            var port = FlowgenIPFIX.defaultPort
            if let portText {
                guard let p = UInt16(portText), p > 0 else { throw fail("port '\(portText)' is not 1 to 65535") }
                port = p
            }
            self = scheme == "udp" ? .udp(host: host, port: port) : .tcp(host: host, port: port)
        default:
            throw fail("unknown scheme '\(scheme)'")
        }
    }

    /// The URL form.
    public var description: String {
        switch self {
        case let .udp(host, port): return "udp://\(Self.bracketed(host)):\(port)"
        case let .tcp(host, port): return "tcp://\(Self.bracketed(host)):\(port)"
        case let .file(path): return "file://\(path)"
        }
    }

    static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
