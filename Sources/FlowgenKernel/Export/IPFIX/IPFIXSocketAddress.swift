import CLibBPF
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// A resolved collector address (IPv4 or IPv6) and the socket calls IPFIX transports make with it.
public struct IPFIXSocketAddress: Sendable, CustomStringConvertible {
    /// AF_INET or AF_INET6.
    public let family: Int32
    /// The address bytes as `sockaddr_in`/`sockaddr_in6` (kept as bytes so the value is Sendable).
    let storage: [UInt8]
    /// Numeric host text and port, for messages.
    public let description: String

    /// Resolves `host` (a literal or a name) for `socktype` (SOCK_DGRAM or SOCK_STREAM); the first result wins.
    public init(host: String, port: UInt16, socktype: Int32) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = socktype
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw IPFIXError.unresolvable(host, String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(result) }
        family = first.pointee.ai_family
        storage = Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST)
        let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        description = (family == AF_INET6 ? "[\(numeric)]" : numeric) + ":\(port)"
    }

    /// Octets of IP and transport headers in front of each message: the MTU minus these is the largest UDP message.
    public var udpOverhead: Int { family == AF_INET6 ? 48 : 28 }

    /// A new socket of this family (close-on-exec).
    public func socket(type: Int32) throws -> Int32 {
        // O_CLOEXEC equals SOCK_CLOEXEC on Linux; the SOCK_CLOEXEC import differs between debug and release builds
        let fd = Glibc.socket(family, type | O_CLOEXEC, 0)
        guard fd >= 0 else { throw IPFIXError.socket("socket()", errno) }
        return fd
    }

    /// connect(2); returns 0 or an errno.
    public func connect(_ fd: Int32) -> Int32 {
        let rc = storage.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        return rc == 0 ? 0 : errno
    }
}
