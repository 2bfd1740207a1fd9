import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Double = 1000

    func advance(_ seconds: Double) { lock.withLock { now += seconds } }

    var clock: IPFIXClock {
        IPFIXClock(monotonicSeconds: { [self] in lock.withLock { now } }, unixSeconds: { 1_700_000_000 })
    }
}

/// Log lines a transport wrote, from any thread.
typealias LogLines = CapturedLog

/// Loopback sockets for collectors written in the tests.
enum Loopback {
    /// A socket bound to 127.0.0.1:`port` (0: any free port) and the port it got.
    static func bound(type: Int32, port: UInt16 = 0) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IPFIXError.socket("socket()", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { let e = errno; close(fd); throw IPFIXError.socket("bind(127.0.0.1:\(port))", e) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// A port on 127.0.0.1 that nothing listens on (bound once, then released).
    static func freePort(type: Int32) throws -> UInt16 {
        let (fd, port) = try bound(type: type)
        close(fd)
        return port
    }

    /// Waits until `fd` is readable.
    static func readable(_ fd: Int32, timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(timeout * 1000)) > 0
    }

    /// Every datagram that arrives until none came for `quiet` seconds.
    static func datagrams(_ fd: Int32, quiet: Double = 0.3) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while readable(fd, timeout: quiet) {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            out.append(Array(buf[0..<n]))
        }
        return out
    }

    /// Reads a stream until the peer closes it (or `timeout` passes without data).
    static func readToEnd(_ fd: Int32, timeout: Double = 5) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while readable(fd, timeout: timeout) {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            out += buf[0..<n]
        }
        return out
    }

    /// Reads exactly the messages carrying `records` data records from a stream (or until `timeout`).
    static func readMessages(_ fd: Int32, records: Int, timeout: Double = 5) throws -> [IPFIXDecodedMessage] {
        var bytes: [UInt8] = []
        var decoder = IPFIXMessageDecoder()
        var messages: [IPFIXDecodedMessage] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while messages.reduce(0, { $0 + $1.records.count }) < records, readable(fd, timeout: timeout) {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            bytes += buf[0..<n]
            while bytes.count >= 4, bytes.count >= Int(bytes[2]) << 8 | Int(bytes[3]) {
                let length = Int(bytes[2]) << 8 | Int(bytes[3])
                messages.append(try decoder.decode(bytes[0..<length]))
                bytes.removeFirst(length)
            }
        }
        return messages
    }

    /// Accepts one connection within `timeout`.
    static func accept(_ listener: Int32, timeout: Double = 5) -> Int32? {
        guard readable(listener, timeout: timeout) else { return nil }
        let fd = Glibc.accept(listener, nil, nil)
        return fd >= 0 ? fd : nil
    }
}

/// Polls `condition` every 10 ms for up to `timeout` seconds.
func eventually(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite struct IPFIXTransportTests {
    @Test func udpSendsTemplatesFirstThenRefreshesThemByTimeAndByMessageCount() throws {
        let (collector, port) = try Loopback.bound(type: Int32(SOCK_DGRAM.rawValue))
        defer { close(collector) }
        let time = ManualClock()
        let udp = try IPFIXUDPTransport(host: "127.0.0.1", port: port, templates: [tinyTemplate], observationDomainID: 5,
                                        maxMessageSize: 100, templateRefreshInterval: 10, templateRefreshMessages: 3, clock: time.clock)
        defer { udp.close() }
        var decoder = IPFIXMessageDecoder()
        func receive() throws -> [IPFIXDecodedMessage] { try Loopback.datagrams(collector).map { try decoder.decode($0[...]) } }

        let start = try receive()
        #expect(start.count == 1 && start[0].templates.map(\.id) == [256] && start[0].records.isEmpty, "templates at start")
        udp.send([tinyRecord(6, 1)])
        time.advance(5)
        udp.send([tinyRecord(6, 2)])
        var got = try receive()
        #expect(got.map(\.templates.count) == [0, 0] && got.map(\.sequenceNumber) == [0, 1])
        time.advance(6) // 11 s since the templates
        udp.send([tinyRecord(6, 3)])
        got = try receive()
        #expect(got.map(\.templates.count) == [1], "refresh after the interval")
        #expect(got[0].sets.map(\.id) == [2, 256] && got[0].sequenceNumber == 2)
        // 8 records fill a message (6 next to the templates): after 3 messages without templates the 4th carries them
        udp.send((0..<8).map { tinyRecord(17, $0) })
        udp.send((0..<8).map { tinyRecord(17, $0) })
        udp.send((0..<20).map { tinyRecord(17, $0) })
        got = try receive()
        #expect(got.map { $0.templates.isEmpty ? 0 : 1 } == [0, 0, 0, 1, 0])
        #expect(got.map(\.records.count) == [8, 8, 8, 6, 6])
        #expect(got.map(\.sequenceNumber) == [3, 11, 19, 27, 33])
        #expect(got.allSatisfy { $0.length <= 100 && $0.observationDomainID == 5 })
        let s = udp.statistics
        #expect(s.messagesSent == 9 && s.recordsSent == 39 && s.templateMessagesSent == 3 && s.sendFailures == 0 && s.recordsLost == 0)
    }

    @Test func udpToACollectorThatIsDownCountsSendFailures() throws {
        let port = try Loopback.freePort(type: Int32(SOCK_DGRAM.rawValue))
        let log = LogLines()
        let udp = try IPFIXUDPTransport(host: "127.0.0.1", port: port, templates: [tinyTemplate], observationDomainID: 0,
                                        log: log.logger)
        for i in 0..<20 {
            udp.send([tinyRecord(6, UInt64(i))])
            usleep(2_000) // let the ICMP port unreachable come back
        }
        udp.close()
        udp.send([tinyRecord(6, 99)])
        let s = udp.statistics
        #expect(s.sendFailures >= 5, "\(s)")
        #expect(s.recordsLost >= 5 && s.recordsSent + s.recordsLost == 21, "\(s)")
        #expect(log.text.contains("send failed: Connection refused"), "\(log.text)")
        #expect(log.all.count <= 2, "failures are rate-limited: \(log.all)")
    }

    @Test func tcpDeliversEverythingAndCloseFlushes() throws {
        let (listener, port) = try Loopback.bound(type: Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        listen(listener, 4)
        let tcp = try IPFIXTCPTransport(host: "127.0.0.1", port: port, templates: [tinyTemplate], observationDomainID: 9)
        let conn = try #require(Loopback.accept(listener))
        defer { close(conn) }
        for batch in 0..<5 { tcp.send((0..<1000).map { tinyRecord(6, UInt64(batch * 1000 + $0)) }) }
        tcp.close()
        let bytes = Loopback.readToEnd(conn)
        var decoder = IPFIXMessageDecoder()
        let messages = try decoder.decodeStream(bytes)
        #expect(messages.first?.templates.map(\.id) == [256])
        let values = messages.flatMap(\.records).compactMap { $0.unsigned(2, enterprise: 29305) }
        #expect(values == (0..<5000).map(UInt64.init))
        var expected: UInt32 = 0
        for m in messages {
            #expect(m.sequenceNumber == expected && m.observationDomainID == 9)
            expected += UInt32(m.records.count)
        }
        let s = tcp.statistics
        #expect(s.recordsSent == 5000 && s.queued == 0 && s.recordsLost == 0 && s.queueDrops == 0 && s.reconnects == 0)
        #expect(s.bytesSent == UInt64(bytes.count))
    }

    @Test func tcpReconnectsWithBackOffKeepsABoundedQueueAndCountsDrops() throws {
        let port = try Loopback.freePort(type: Int32(SOCK_STREAM.rawValue))
        var options = IPFIXTCPTransport.Options()
        options.queueCapacity = 5
        options.reconnectInitialDelay = 0.05
        options.reconnectMaxDelay = 0.2
        let log = LogLines()
        let tcp = try IPFIXTCPTransport(host: "127.0.0.1", port: port, templates: [tinyTemplate], observationDomainID: 0,
                                        options: options, log: log.logger)
        tcp.send((0..<8).map { tinyRecord(6, UInt64($0)) })
        #expect(tcp.statistics.queueDrops == 3 && tcp.statistics.queued == 5)
        #expect(eventually { tcp.statistics.connectFailures >= 4 }, "keeps retrying: \(tcp.statistics)")
        let text = log.text
        #expect(text.contains("cannot connect to 127.0.0.1:\(port): Connection refused; retrying in 50 ms"), "\(text)")
        #expect(text.contains("queue full"), "\(text)")

        // the collector comes up: the queued flows arrive, templates first
        let (listener, _) = try Loopback.bound(type: Int32(SOCK_STREAM.rawValue), port: port)
        defer { close(listener) }
        listen(listener, 4)
        let first = try #require(Loopback.accept(listener, timeout: 2), "no reconnection within the back-off")
        let got = try Loopback.readMessages(first, records: 5)
        #expect(got.first?.templates.map(\.id) == [256])
        #expect(got.flatMap(\.records).compactMap { $0.unsigned(2, enterprise: 29305) } == [0, 1, 2, 3, 4])
        #expect(eventually { log.text.contains("connected to 127.0.0.1:\(port)") })

        // the collector restarts: a new session, templates again, sequence numbers from 0
        close(first)
        #expect(eventually { tcp.statistics.reconnects == 1 }, "an idle connection's end is noticed, and it reconnects")
        let second = try #require(Loopback.accept(listener, timeout: 3))
        defer { close(second) }
        tcp.send([tinyRecord(6, 100), tinyRecord(6, 101)])
        let again = try Loopback.readMessages(second, records: 2)
        #expect(again.first?.templates.map(\.id) == [256] && again.first?.sequenceNumber == 0)
        #expect(again.flatMap(\.records).compactMap { $0.unsigned(2, enterprise: 29305) } == [100, 101])
        tcp.close()
        let s = tcp.statistics
        #expect(s.reconnects == 1 && s.queueDrops == 3 && s.recordsSent == 7 && s.recordsLost == 0 && s.queued == 0, "\(s)")
        #expect(s.summary.contains("3 queue drops") && s.summary.contains("1 reconnect,"))
    }

    @Test func tcpCloseGivesUpAfterItsTimeoutAndCountsWhatWasQueued() throws {
        let port = try Loopback.freePort(type: Int32(SOCK_STREAM.rawValue))
        var options = IPFIXTCPTransport.Options()
        options.reconnectInitialDelay = 0.05
        options.closeTimeout = 0.3
        let tcp = try IPFIXTCPTransport(host: "127.0.0.1", port: port, templates: [tinyTemplate], observationDomainID: 0, options: options)
        tcp.send((0..<10).map { tinyRecord(6, UInt64($0)) })
        let started = Date()
        tcp.close()
        #expect(Date().timeIntervalSince(started) < 2)
        let s = tcp.statistics
        #expect(s.recordsLost == 10 && s.recordsSent == 0 && s.queued == 0, "\(s)")
        tcp.send([tinyRecord(6, 1)])
        #expect(tcp.statistics.recordsLost == 11, "after close, records count as lost")
    }

    @Test func fileIsAnIPFIXFileWithTemplatesFirstAndAppendsSessions() throws {
        let path = NSTemporaryDirectory() + "ipfix-\(UUID().uuidString).ipfix"
        defer { unlink(path) }
        for session in 0..<2 {
            let file = try IPFIXFileTransport(path: path, templates: [tinyTemplate], observationDomainID: 3)
            file.send((0..<100).map { tinyRecord(6, UInt64(session * 100 + $0)) })
            file.close()
            #expect(file.statistics.recordsSent == 100 && file.statistics.sendFailures == 0)
        }
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o640)
        var decoder = IPFIXMessageDecoder()
        let messages = try decoder.decodeStream([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(messages.map(\.templates.count) == [1, 0, 1, 0])
        #expect(messages.map(\.sequenceNumber) == [0, 0, 0, 0])
        #expect(messages.flatMap(\.records).count == 200)
        #expect(throws: IPFIXError.self) {
            try IPFIXFileTransport(path: "/nonexistent-dir/x.ipfix", templates: [tinyTemplate], observationDomainID: 0)
        }
    }

    @Test func exporterLogsItsCountersAtClose() throws {
        let fx = try IPFIXFixture(features: "tcp,icmp")
        let path = NSTemporaryDirectory() + "ipfix-\(UUID().uuidString).ipfix"
        defer { unlink(path) }
        let log = LogLines()
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .file(path: path), epochOffsetNs: { fx.epochOffsetNs }, log: log.logger)
        try exporter.export(sampleFlows(fx))
        try exporter.close()
        try exporter.close()
        #expect(exporter.flowsExported == 5)
        #expect(log.all == ["ipfix file://\(path): 2 messages (\(exporter.statistics.bytesSent) bytes, 5 flows) sent, 0 send failures, 0 flows lost"])
    }
}
