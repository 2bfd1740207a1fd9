import Foundation
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 responder for Prometheus scrapes: `GET /metrics` (and `/`) returns the
/// collector metrics as text exposition format, anything else 404/405. One thread accepts and
/// answers connections one at a time (scrapes are rare and the page is small); each request must
/// arrive within 2 s and fit in 8 KiB, and every response closes its connection. It binds only to
/// the address it is given.
public final class MetricsServer: @unchecked Sendable {
    /// The address as given (`HOST:PORT`, IPv6 in brackets).
    public let address: String
    /// The port actually bound (useful with port 0).
    public let port: UInt16
    private let fd: Int32
    private let render: @Sendable () -> String
    private let stopping = NSLock()
    private var stopped = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Parses `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`) and listens there.
    /// `render` produces the page for each scrape.
    public init(address: String, render: @escaping @Sendable () -> String) throws {
        self.address = address
        self.render = render
        let (host, port) = try Self.parse(address)
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            family = AF_INET
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = v4
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_addr = v6
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin6, as: sockaddr_in6.self) }
        } else {
            throw MetricsServerError.badAddress(address, "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        let socket = Glibc.socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw MetricsServerError.cannotListen(address, String(cString: strerror(errno))) }
        _ = fcntl(socket, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // bind exactly what was given: [::] must not silently take IPv4 too
            setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        guard bound == 0, listen(socket, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            throw MetricsServerError.cannotListen(address, reason)
        }
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        let boundPort = withUnsafeBytes(of: &storage) { raw -> UInt16 in
            family == AF_INET ? UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
                              : UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
        }
        self.fd = socket
        self.port = boundPort
    }

    deinit {
        stop()
        close(fd)
    }

    /// Splits `HOST:PORT`; the host must be given (flowgen never picks an address by itself).
    public static func parse(_ address: String) throws -> (host: String, port: UInt16) {
        var host: Substring, portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else {
                throw MetricsServerError.badAddress(address, "write an IPv6 address as [ADDR]:PORT")
            }
            host = address[address.index(after: address.startIndex)..<close]
            portText = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":"), !address[..<colon].contains(":") else {
                throw MetricsServerError.badAddress(address, "expected ADDR:PORT, e.g. 127.0.0.1:9464")
            }
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        }
        guard !host.isEmpty else { throw MetricsServerError.badAddress(address, "give the address to listen on, e.g. 127.0.0.1:9464") }
        guard let port = UInt16(portText) else { throw MetricsServerError.badAddress(address, "'\(portText)' is not a port number (0-65535)") }
        return (String(host), port)
    }

    /// Starts answering on a thread of its own.
    public func start() {
        let thread = Thread { [self] in
            serve()
            finished.signal()
        }
        thread.name = "flowgen-metrics"
        self.thread = thread
        thread.start()
    }

    /// Stops answering and waits for the thread (at most about 0.2 s plus a request in progress).
    public func stop() {
        let wasRunning = stopping.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped && thread != nil
        }
        if wasRunning { finished.wait() }
    }

    private var isStopped: Bool { stopping.withLock { stopped } }

    private func serve() {
        while !isStopped {
            var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollfd, 1, 200)
            if ready <= 0 { continue }
            let client = accept(fd, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if String(decoding: request, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request, as: UTF8.self).split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = line.split(separator: " ")
        let status: String, body: String
        var contentType = "text/plain; charset=utf-8"
        if parts.count < 2 {
            status = "400 Bad Request"
            body = "bad request\n"
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            status = "405 Method Not Allowed"
            body = "only GET\n"
        } else if parts[1] == "/metrics" || parts[1] == "/" || parts[1].hasPrefix("/metrics?") {
            status = "200 OK"
            body = render()
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        } else {
            status = "404 Not Found"
            body = "see /metrics\n"
        }
        let payload = parts.first == "HEAD" ? "" : body
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array((head + payload).utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}
