import Foundation
import Testing
@testable import FlowgenKernel
#if canImport(Glibc)
import Glibc
@testable import FlowgenTestSupport
#endif

/// The metrics endpoint against clients that connect and say nothing, trickle, or come by the
/// thousand: a real scrape still gets its page at once.
@Suite(.serialized) struct MetricsServerTests {
    static let page = "# TYPE flowgen_test_total counter\nflowgen_test_total 42\n"

    /// A started server on 127.0.0.1 and an ephemeral port, serving `page`.
    func startedServer() throws -> MetricsServer {
        let server = try MetricsServer(address: "127.0.0.1:0") { MetricsServerTests.page }
        server.start()
        return server
    }

    @Test func aScrapeGetsThroughTwoThousandIdleConnections() throws {
        let server = try startedServer()
        defer { server.stop() }
        let idleCount = 2000
        try withFileLimit(atLeast: idleCount + 1024) {
            var idle: [Int32] = []
            defer { for fd in idle { close(fd) } }
            // a server that takes one connection at a time lets each connect wait for a slot: fail, not crawl
            let floodDeadline = ContinuousClock.now + .seconds(30)
            for index in 0..<idleCount {
                idle.append(try connectClient(port: server.port))
                try #require(ContinuousClock.now < floodDeadline, "only \(index + 1) idle connections made in 30 s")
                // (c) the server never holds more than its cap, however fast they come
                if index % 100 == 99 {
                    let held = try serverHeldSockets(port: server.port)
                    #expect(held <= MetricsServer.maxConnections, "the server holds \(held) connections after \(index + 1)")
                }
            }
            let started = ContinuousClock.now
            let reply = try scrape(port: server.port, request: "GET /metrics HTTP/1.1\r\nHost: flowgen\r\n\r\n", within: .seconds(1))
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(reply.status == "HTTP/1.1 200 OK", "\(reply)")
            #expect(reply.body == Self.page)
            #expect(try serverHeldSockets(port: server.port) <= MetricsServer.maxConnections)

            // the scrape was accepted after every idle connection, so all but the newest (at most
            // the cap of them) were closed to make room, oldest first
            let closedBy = ContinuousClock.now + .seconds(1)
            for (index, fd) in idle.enumerated().prefix(idleCount - MetricsServer.maxConnections) {
                #expect(waitForEOF(fd, until: closedBy), "idle connection #\(index) is still open")
            }
        }
    }

    @Test func aClientTricklingItsRequestIsCutOffTwoSecondsAfterConnecting() throws {
        let server = try startedServer()
        defer { server.stop() }
        let fd = try connectClient(port: server.port)
        defer { close(fd) }
        let connected = ContinuousClock.now
        // a request that never ends: one byte every 300 ms, each well within any per-read timeout
        let request = Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 64)
        var disconnectedAfter: Duration?
        for byte in request where disconnectedAfter == nil {
            var one = byte
            if send(fd, &one, 1, Int32(MSG_NOSIGNAL)) < 0 { disconnectedAfter = ContinuousClock.now - connected; break }
            if waitForEOF(fd, until: ContinuousClock.now + .milliseconds(300)) { disconnectedAfter = ContinuousClock.now - connected }
            if ContinuousClock.now - connected > .seconds(6) { break }
        }
        let after = try #require(disconnectedAfter, "a client trickling its request was never disconnected")
        #expect(after >= .milliseconds(1900) && after < .milliseconds(2800), "disconnected after \(after)")
    }

    @Test func aRequestInPiecesWithinTheDeadlineIsAnsweredAndOtherPathsAndMethodsAreRefused() throws {
        let server = try startedServer()
        defer { server.stop() }
        // three pieces 0.5 s apart: slow, but complete within 2 s of accept
        let fd = try connectClient(port: server.port)
        defer { close(fd) }
        for piece in ["GET /metrics HT", "TP/1.1\r\nHost: x\r\n", "\r\n"] {
            #expect(send(fd, piece, piece.utf8.count, Int32(MSG_NOSIGNAL)) == piece.utf8.count)
            Thread.sleep(forTimeInterval: 0.5)
        }
        let pieces = try readReply(fd, until: ContinuousClock.now + .seconds(1))
        #expect(pieces.status == "HTTP/1.1 200 OK" && pieces.body == Self.page, "\(pieces)")

        let notFound = try scrape(port: server.port, request: "GET /nope HTTP/1.1\r\n\r\n", within: .seconds(1))
        #expect(notFound.status == "HTTP/1.1 404 Not Found")
        let post = try scrape(port: server.port, request: "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", within: .seconds(1))
        #expect(post.status == "HTTP/1.1 405 Method Not Allowed")
        let head = try scrape(port: server.port, request: "HEAD /metrics HTTP/1.1\r\n\r\n", within: .seconds(1))
        #expect(head.status == "HTTP/1.1 200 OK" && head.body.isEmpty)
        #expect(head.headers.contains("Content-Length: \(Self.page.utf8.count)"), "\(head)")
    }

    @Test func stopReturnsPromptlyAndClosesOpenConnections() throws {
        let server = try startedServer()
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<10 { idle.append(try connectClient(port: server.port)) }
        // the connections are accepted once the server holds them all
        _ = try waitUntil(1, every: 0.01) { try serverHeldSockets(port: server.port) >= 10 }
        #expect(try serverHeldSockets(port: server.port) == 10)
        let started = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - started < .milliseconds(400))
        for fd in idle { #expect(waitForEOF(fd, until: ContinuousClock.now + .milliseconds(500))) }
    }
}

// MARK: - Clients

/// A connected TCP socket to 127.0.0.1:`port`; connect(2) gives up after 3 s (SO_SNDTIMEO bounds it),
/// so a server that stops accepting fails the test instead of hanging it.
private func connectClient(port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestbedError.systemCall("socket", errno: errno) }
    var timeout = timeval(tv_sec: 3, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        let code = errno
        close(fd)
        throw TestbedError.systemCall("connecting to 127.0.0.1:\(port) (the server did not accept within 3 s)", errno: code)
    }
    return fd
}

/// A reply split into its status line, header lines and body.
private struct Reply: CustomStringConvertible {
    var status = ""
    var headers: [String] = []
    var body = ""
    var description: String { ([status] + headers).joined(separator: " | ") + " || " + body }
}

/// Connects, sends `request` and reads the reply to its end, all within `limit`.
private func scrape(port: UInt16, request: String, within limit: Duration) throws -> Reply {
    let deadline = ContinuousClock.now + limit
    let fd = try connectClient(port: port)
    defer { close(fd) }
    let sent = send(fd, request, request.utf8.count, Int32(MSG_NOSIGNAL))
    guard sent == request.utf8.count else { throw TestbedError.systemCall("sending the request", errno: errno) }
    return try readReply(fd, until: deadline)
}

/// Reads until the server closes, failing at `deadline`.
private func readReply(_ fd: Int32, until deadline: ContinuousClock.Instant) throws -> Reply {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw TestbedError.systemCall("reading the reply (none complete in time)", errno: ETIMEDOUT) }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
        if pfd.revents == 0 { continue }
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { throw TestbedError.systemCall("reading the reply", errno: errno) }
        if n == 0 { break }
        bytes += buffer[0..<n]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return Reply(status: text) }
    let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
    return Reply(status: head[0], headers: Array(head.dropFirst()), body: String(text[split.upperBound...]))
}

/// True once the server has closed `fd` (recv reads end of file or a reset) before `deadline`.
private func waitForEOF(_ fd: Int32, until deadline: ContinuousClock.Instant) -> Bool {
    var byte: UInt8 = 0
    while true {
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
        if n > 0 { return false }   // the server sent something instead of closing
        if ContinuousClock.now >= deadline { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, 1, 10)
    }
}

/// Connections to `port` the server itself holds, counted once it has accepted every connection
/// made so far (so the count does not change while the table is read, which takes several reads):
/// IPv4 sockets in /proc/net/tcp whose local port is `port`, that are not the listener, and that
/// have an inode. A socket still in the accept queue and one the server has closed have none (no
/// file refers to them), and the test's own client sockets have an ephemeral local port.
private func serverHeldSockets(port: UInt16) throws -> Int {
    let hex = String(port, radix: 16, uppercase: true)
    let portSuffix = ":" + String(repeating: "0", count: 4 - hex.count) + hex
    let deadline = ContinuousClock.now + .seconds(2)
    while true {
        // read to the end: String(contentsOfFile:) stops after the first read of a /proc file, one page
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/tcp"))
        defer { try? handle.close() }
        let table = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var held = 0, queued = 0
        for line in table.split(separator: "\n").dropFirst() {
            // sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1].hasSuffix(portSuffix) else { continue }
            if fields[3] == "0A" {
                // a listener's rx_queue is its accept queue
                queued = Int(fields[4].split(separator: ":").last ?? "", radix: 16) ?? 0
            } else if fields[9] != "0" {
                held += 1
            }
        }
        if queued == 0 { return held }
        guard ContinuousClock.now < deadline else {
            throw TestbedError.systemCall("waiting for the server to accept \(queued) queued connections", errno: ETIMEDOUT)
        }
        Thread.sleep(forTimeInterval: 0.005)
    }
}

/// Runs `body` with the soft descriptor limit raised to at least `count`, then restores the limits.
/// Fails (never skips) when the limit cannot be raised.
private func withFileLimit(atLeast count: Int, _ body: () throws -> Void) throws {
    var old = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &old) == 0 else { throw TestbedError.systemCall("getrlimit", errno: errno) }
    var raised = old
    raised.rlim_cur = max(old.rlim_cur, rlim_t(count))
    raised.rlim_max = max(old.rlim_max, raised.rlim_cur)
    guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else {
        let code = errno
        Issue.record("cannot raise RLIMIT_NOFILE to \(count) (run the tests as root or raise `ulimit -n`)")
        throw TestbedError.systemCall("setrlimit", errno: code)
    }
    defer { _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &old) }
    try body()
}
