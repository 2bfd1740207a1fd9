import CLibBPF
import FlowgenCore
import Logging
import SystemPackage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// IPFIX over TCP (RFC 7011 §10.4): records wait in a bounded queue that a sender thread drains,
/// so a slow or absent collector never blocks flow collection.
///
/// Each connection is a new transport session: templates first, sequence numbers from 0. When the
/// connection cannot be made or breaks, the thread retries with exponential back-off (initial delay
/// doubling up to a maximum); records of a message that failed go back to the front of the queue and
/// are sent on the next connection. Nothing is dropped silently: records refused by a full queue
/// count as queue drops, records still queued when `close()` gives up (after `closeTimeout`) as lost.
/// A record whose message the kernel accepted just before the collector reset the connection cannot
/// be told from a delivered one; the thread checks for a closed peer before each write to keep that
/// window short.
public final class IPFIXTCPTransport: IPFIXTransport, @unchecked Sendable {
    /// Queue and timing.
    public struct Options: Sendable {
        /// Records the queue holds before it refuses more.
        public var queueCapacity: Int = 65_536
        /// Delay before the first reconnection attempt, doubled after every failure.
        public var reconnectInitialDelay: Double = 0.5
        /// Largest delay between attempts.
        public var reconnectMaxDelay: Double = 30
        /// Longest wait for one connect().
        public var connectTimeout: Double = 5
        /// Longest a send may block before the connection counts as broken.
        public var sendTimeout: Double = 10
        /// Longest `close()` keeps trying to deliver what is queued.
        public var closeTimeout: Double = 5
        /// Largest message in octets.
        public var maxMessageSize: Int = FlowgenIPFIX.maxMessageLength

        /// Default options.
        public init() {}
    }

    /// The collector URL.
    public let destination: IPFIXDestination
    /// The resolved collector address.
    public let address: IPFIXSocketAddress
    /// Options in force.
    public let options: Options

    let templates: [IPFIXTemplate]
    let clock: IPFIXClock
    let condition = NSCondition()
    // guarded by `condition`
    var queue: IPFIXRecordQueue
    var stats = IPFIXTransportStatistics()
    var closing = false
    var closeDeadline = Double.infinity
    var finished = false
    var connected = false
    var failures: IPFIXFailureReporter
    // sender thread only
    var encoder: IPFIXMessageEncoder
    var fd: Int32 = -1
    var backoff: Double
    var nextAttempt = -Double.infinity

    /// Resolves the collector and starts the sender thread, which connects at once.
    public init(host: String, port: UInt16, templates: [IPFIXTemplate], observationDomainID: UInt32,
                options: Options = Options(), clock: IPFIXClock = .system, log: Logger = .silent) throws {
        precondition(options.queueCapacity > 0 && options.reconnectInitialDelay > 0 && options.reconnectMaxDelay >= options.reconnectInitialDelay)
        destination = .tcp(host: host, port: port)
        address = try IPFIXSocketAddress(host: host, port: port, socktype: Int32(SOCK_STREAM.rawValue))
        self.options = options
        self.templates = templates
        self.clock = clock
        queue = IPFIXRecordQueue(capacity: options.queueCapacity)
        backoff = options.reconnectInitialDelay
        encoder = IPFIXMessageEncoder(observationDomainID: observationDomainID, maxMessageSize: options.maxMessageSize)
        failures = IPFIXFailureReporter(prefix: "ipfix \(destination)", log: log)
        let thread = Thread { [self] in run() }
        thread.name = "flowgen-ipfix-tcp"
        thread.start()
    }

    /// Counters so far (`queued` is the queue's length now).
    public var statistics: IPFIXTransportStatistics {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.queued = queue.count
        return s
    }

    /// Queues the records for the sender thread; those that do not fit are counted as queue drops.
    public func send(_ records: [IPFIXDataRecord]) {
        guard !records.isEmpty else { return }
        condition.lock()
        defer { condition.unlock() }
        if closing {
            stats.recordsLost += UInt64(records.count)
            return
        }
        let dropped = queue.append(records)
        if dropped > 0 {
            stats.queueDrops += UInt64(dropped)
            failures.failure("queue full", detail: "\(dropped) flows dropped (\(queue.count) queued, collector unreachable?)", now: clock.monotonicSeconds())
        }
        condition.signal()
    }

    /// Delivers what is queued (waiting up to `closeTimeout` for a connection), then closes.
    public func close() {
        condition.lock()
        if !closing {
            closing = true
            closeDeadline = clock.monotonicSeconds() + options.closeTimeout
            condition.broadcast()
        }
        while !finished { condition.wait() }
        condition.unlock()
    }

    deinit {
        if !finished { close() }
    }

    // MARK: Sender thread

    func run() {
        var everConnected = false
        var needTemplates = false
        condition.lock()
        while true {
            let now = clock.monotonicSeconds()
            if closing && now >= closeDeadline { break }
            if fd < 0 {
                if closing && queue.isEmpty { break }
                if now < nextAttempt {
                    let until = min(nextAttempt, closing ? closeDeadline : .infinity)
                    _ = condition.wait(until: Date(timeIntervalSinceNow: max(0.001, until - now)))
                    continue
                }
                condition.unlock()
                let result = connect()
                condition.lock()
                switch result {
                case let .success(newFD):
                    fd = newFD
                    connected = true
                    if everConnected { stats.reconnects += 1 }
                    everConnected = true
                    encoder.reset()
                    needTemplates = true
                    failures.event("connected to \(address)")
                case let .failure(err):
                    stats.connectFailures += 1
                    failures.failure("cannot connect to \(address)", detail: "\(Errno(rawValue: err.errno).description); retrying in \(Self.seconds(backoff))"
                                     + (queue.count > 0 ? ", \(queue.count) flows queued" : ""), now: now)
                    scheduleReconnect()
                }
                continue
            }
            if queue.isEmpty && !needTemplates {
                if closing { break }
                // wake up now and then to notice a collector that went away while nothing was sent
                _ = condition.wait(until: Date(timeIntervalSinceNow: 1))
                if queue.isEmpty && !closing && peerClosed() { disconnect(reason: "collector closed the connection", now: clock.monotonicSeconds()) }
                continue
            }
            let batch = queue.popFront(1024)
            condition.unlock()
            var delivered = 0
            var failedErr: Int32 = 0
            var sent = IPFIXTransportStatistics()
            if peerClosed() {
                failedErr = ECONNRESET
            } else {
                let messages = encoder.encode(templates: needTemplates ? templates : [], records: batch, exportTime: clock.unixSeconds())
                for m in messages {
                    let err = writeAll(m.bytes)
                    if err != 0 {
                        failedErr = err
                        break
                    }
                    delivered += m.dataRecords
                    sent.messagesSent += 1
                    sent.bytesSent += UInt64(m.bytes.count)
                    sent.recordsSent += UInt64(m.dataRecords)
                    if m.templateRecords > 0 { sent.templateMessagesSent += 1 }
                }
            }
            condition.lock()
            stats.messagesSent += sent.messagesSent
            stats.bytesSent += sent.bytesSent
            stats.recordsSent += sent.recordsSent
            stats.templateMessagesSent += sent.templateMessagesSent
            if failedErr == 0 {
                needTemplates = false
                backoff = options.reconnectInitialDelay // the connection works: a later loss starts afresh
            } else {
                queue.prepend(Array(batch[delivered...]))
                stats.sendFailures += 1
                disconnect(reason: "send failed: \(Errno(rawValue: failedErr).description)", now: clock.monotonicSeconds())
            }
        }
        let lost = queue.removeAll()
        if lost > 0 {
            stats.recordsLost += UInt64(lost)
            failures.event("gave up after \(Self.seconds(options.closeTimeout)): \(lost) queued flows lost")
        }
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_WR))
            Glibc.close(fd)
            fd = -1
        }
        connected = false
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Closes a broken connection and schedules the next attempt (called with the lock held).
    func disconnect(reason: String, now: Double) {
        Glibc.close(fd)
        fd = -1
        connected = false
        failures.failure("connection lost", detail: reason + "; reconnecting in \(Self.seconds(backoff))"
                         + (queue.count > 0 ? ", \(queue.count) flows queued" : ""), now: now)
        scheduleReconnect()
    }

    /// The next attempt after the current back-off, which then doubles up to the maximum. It is reset
    /// only once a connection has delivered something, so a collector that accepts and at once drops
    /// connections is retried no faster than one that refuses them.
    func scheduleReconnect() {
        nextAttempt = clock.monotonicSeconds() + backoff
        backoff = min(backoff * 2, options.reconnectMaxDelay)
    }

    /// One connection attempt with `connectTimeout`; the socket is blocking afterwards, with `sendTimeout`.
    func connect() -> Result<Int32, ConnectError> {
        let fd: Int32
        do { fd = try address.socket(type: Int32(SOCK_STREAM.rawValue)) } catch { return .failure(ConnectError(errno: EMFILE)) }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var err = address.connect(fd)
        if err == EINPROGRESS {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&p, 1, Int32(options.connectTimeout * 1000))
            if ready <= 0 {
                err = ready == 0 ? ETIMEDOUT : errno
            } else {
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                err = soError
            }
        }
        guard err == 0 else {
            Glibc.close(fd)
            return .failure(ConnectError(errno: err))
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var tv = timeval(tv_sec: Int(options.sendTimeout), tv_usec: Int((options.sendTimeout - options.sendTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return .success(fd)
    }

    /// An errno from connect(), as a Result's failure.
    struct ConnectError: Error { let errno: Int32 }

    /// Writes every octet; returns 0 or the errno that stopped it.
    func writeAll(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n > 0 { off += n; continue }
                if n < 0 && errno == EINTR { continue }
                return n == 0 ? EPIPE : errno
            }
            return 0
        }
    }

    /// Whether the collector closed or reset the connection (it never sends anything, so any
    /// readable event is an end of stream or an error).
    func peerClosed() -> Bool {
        guard fd >= 0 else { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN) | Self.pollRDHUP, revents: 0)
        guard poll(&p, 1, 0) > 0 else { return false }
        if p.revents & (Int16(POLLERR) | Int16(POLLHUP) | Self.pollRDHUP) != 0 { return true }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// POLLRDHUP from <poll.h>, which Swift's Glibc module hides (it needs _GNU_SOURCE).
    static let pollRDHUP: Int16 = 0x2000

    static func seconds(_ s: Double) -> String {
        s < 1 ? "\(Int((s * 1000).rounded())) ms" : s < 10 ? String(format: "%.1f s", s) : "\(Int(s)) s"
    }
}
