import CLibBPF
import Foundation
import SystemPackage
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 responder for Prometheus scrapes: `GET /metrics` (and `/`) returns the
/// collector metrics as text exposition format, anything else 404/405. It binds only to the address
/// it is given.
///
/// One thread serves every connection at once: poll(2) watches the listening socket and each open
/// (non-blocking) client, so no client can make another wait. Each connection has
/// `MetricsServer.deadline` (2 s) from accept to deliver its whole request (at most 8 KiB; more is
/// not read) and again to take its response, whatever it trickles meanwhile; every response closes
/// its connection. At most `maxConnections` are open; when another arrives at the cap, the oldest
/// connection still sending its request is closed to make room, so idle or slow connections,
/// however many, cannot keep a real scrape out.
public final class MetricsServer: @unchecked Sendable {
    /// The address as given (`HOST:PORT`, IPv6 in brackets).
    public let address: String
    /// The port actually bound (useful with port 0).
    public let port: UInt16
    /// Most client connections open at once: a scraper needs one, the rest leave room for a few
    /// scrapers at a time while bounding the descriptors and buffers strangers can make it hold.
    public static let maxConnections = 64
    /// How long a connection has from accept to finish its request, and then to take its response.
    public static let deadline: Duration = .seconds(2)
    /// Largest request read; a request is answered by its first line once this much has arrived.
    public static let maxRequestBytes = 8192
    /// Longest poll(2) wait, so a `stop()` is noticed within it.
    static let pollInterval: Duration = .milliseconds(200)

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
        guard socket >= 0 else { throw MetricsServerError.cannotListen(address, Errno(rawValue: errno).description) }
        _ = fcntl(socket, F_SETFD, FD_CLOEXEC)
        // accept(2) must never wait: poll says when a connection is there, and one that is gone by then is skipped
        _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // bind exactly what was given: [::] must not silently take IPv4 too
            setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        // the kernel's largest backlog: a burst of connections waits there (costing this process
        // nothing) until accepted, the oldest idle ones then making way; a short backlog would
        // instead drop a scrape's SYN and delay it by a whole retransmission
        guard bound == 0, listen(socket, SOMAXCONN) == 0 else {
            let reason = Errno(rawValue: errno).description
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

    /// Stops answering, closes every open connection and waits for the thread (at most about 0.2 s).
    public func stop() {
        let wasRunning = stopping.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped && thread != nil
        }
        if wasRunning { finished.wait() }
    }

    private var isStopped: Bool { stopping.withLock { stopped } }

    /// One client: its request as it arrives, then its response as it leaves.
    private struct Connection {
        let fd: Int32
        /// When the current phase (request, then response) must be over.
        var deadline: ContinuousClock.Instant
        var request: [UInt8] = []
        /// nil while the request is still arriving.
        var response: [UInt8]?
        var sent = 0
        /// Answered in full, or failed: to be closed.
        var done = false

        var isReading: Bool { response == nil }
    }

    private func serve() {
        let clock = ContinuousClock()
        var connections: [Connection] = []   // in accept order, so the first reading one is the oldest
        var acceptPausedUntil = clock.now
        defer { for connection in connections { close(connection.fd) } }
        while !isStopped {
            // the listener is watched only while a new connection can be taken: below the cap or by
            // closing one that has not sent its request (and not for a moment after accept failed
            // for want of descriptors, which would otherwise wake poll again at once)
            let canAccept = (connections.count < Self.maxConnections || connections.contains { $0.isReading })
                && clock.now >= acceptPausedUntil
            var fds = [pollfd(fd: fd, events: canAccept ? Int16(POLLIN) : 0, revents: 0)]
            fds += connections.map { pollfd(fd: $0.fd, events: Int16($0.isReading ? POLLIN : POLLOUT), revents: 0) }
            let nearest = connections.map(\.deadline).min().map { $0 - clock.now } ?? Self.pollInterval
            _ = poll(&fds, nfds_t(fds.count), Self.milliseconds(min(Self.pollInterval, nearest)))

            for index in connections.indices where fds[index + 1].revents != 0 {
                progress(&connections[index], clock: clock)
            }
            let now = clock.now
            connections.removeAll { connection in
                let finished = connection.done || now >= connection.deadline
                if finished { close(connection.fd) }
                return finished
            }
            if fds[0].revents & Int16(POLLIN) != 0, !acceptOne(into: &connections, now: now) {
                acceptPausedUntil = now + Self.pollInterval
            }
        }
    }

    /// Accepts the connection poll reported, first closing the oldest connection still sending its
    /// request when at the cap (one at a time: closing one before knowing another waits would
    /// drop it for nothing). False when accept(2) failed for want of descriptors or memory.
    private func acceptOne(into connections: inout [Connection], now: ContinuousClock.Instant) -> Bool {
        if connections.count >= Self.maxConnections {
            // none to close when every connection is sending its response: it waits in the backlog
            guard let oldest = connections.firstIndex(where: \.isReading) else { return true }
            close(connections[oldest].fd)
            connections.remove(at: oldest)
        }
        let client = accept(fd, nil, nil)
        if client < 0 {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED
        }
        // (Glibc's module does not declare accept4; a Linux socket accepted does not inherit O_NONBLOCK)
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        connections.append(Connection(fd: client, deadline: now + Self.deadline))
        return true
    }

    /// Reads what the client sent, answers once the request is complete (blank line, 8 KiB or end
    /// of input) and sends as much of the response as the socket takes.
    private func progress(_ connection: inout Connection, clock: ContinuousClock) {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while connection.isReading && !connection.done {
            let room = min(buffer.count, Self.maxRequestBytes - connection.request.count)
            let n = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, room, 0) }
            if n > 0 {
                let searchFrom = max(0, connection.request.count - 3)
                connection.request += buffer[0..<n]
                if connection.request.count >= Self.maxRequestBytes || Self.endsHeaders(connection.request, from: searchFrom) {
                    answer(&connection, now: clock.now)
                }
            } else if n == 0 {
                answer(&connection, now: clock.now)   // the client has said all it will
            } else if errno == EINTR {
                continue
            } else {
                connection.done = errno != EAGAIN && errno != EWOULDBLOCK
                return
            }
        }
        guard let response = connection.response else { return }
        while connection.sent < response.count {
            let n = response[connection.sent...].withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                connection.sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                connection.done = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return
            }
        }
        connection.done = true
    }

    /// Turns the connection to sending the response to its request, with a fresh deadline.
    private func answer(_ connection: inout Connection, now: ContinuousClock.Instant) {
        connection.response = response(to: connection.request)
        connection.deadline = now + Self.deadline
    }

    /// The whole HTTP response to `request`, judged by its first line.
    private func response(to request: [UInt8]) -> [UInt8] {
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
        return Array((head + payload).utf8)
    }

    /// True when `bytes` holds CR LF CR LF starting at or after `start` (earlier bytes were searched before).
    private static func endsHeaders(_ bytes: [UInt8], from start: Int) -> Bool {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= start + 4 else { return false }
        return (start...(bytes.count - 4)).contains { bytes[$0..<($0 + 4)].elementsEqual(end) }
    }

    /// A poll(2) timeout: whole milliseconds rounded up (so a deadline is not polled for just before
    /// it passes), never negative.
    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
