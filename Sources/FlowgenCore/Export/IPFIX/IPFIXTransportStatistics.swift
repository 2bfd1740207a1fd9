/// What an IPFIX transport did: everything that did not reach the collector is counted here.
public struct IPFIXTransportStatistics: Sendable, Equatable {
    /// Messages handed to the network or written to the file.
    public var messagesSent: UInt64 = 0
    /// Their octets.
    public var bytesSent: UInt64 = 0
    /// Data Records (flows) in those messages.
    public var recordsSent: UInt64 = 0
    /// Messages that carried templates.
    public var templateMessagesSent: UInt64 = 0
    /// Sends or writes that failed (UDP: e.g. ICMP port unreachable; TCP: a broken connection).
    public var sendFailures: UInt64 = 0
    /// Flows lost: in UDP messages that failed, or still queued for TCP when `close()` gave up.
    public var recordsLost: UInt64 = 0
    /// Flows refused because the TCP queue was full.
    public var queueDrops: UInt64 = 0
    /// TCP connections re-established after one was lost or refused.
    public var reconnects: UInt64 = 0
    /// TCP connection attempts that failed.
    public var connectFailures: UInt64 = 0
    /// Flows waiting in the TCP queue now.
    public var queued: Int = 0

    /// Creates zeroed statistics.
    public init() {}

    /// "N messages (B bytes, R flows) sent, ..." with every loss counter, for the run's log.
    public var summary: String {
        func n(_ v: UInt64, _ one: String, _ many: String) -> String { "\(v) \(v == 1 ? one : many)" }
        var parts = ["\(n(messagesSent, "message", "messages")) (\(n(bytesSent, "byte", "bytes")), \(n(recordsSent, "flow", "flows"))) sent",
                     n(sendFailures, "send failure", "send failures"), n(recordsLost, "flow lost", "flows lost")]
        if queueDrops > 0 || reconnects > 0 || connectFailures > 0 || queued > 0 {
            parts += [n(queueDrops, "queue drop", "queue drops"), n(reconnects, "reconnect", "reconnects"),
                      n(connectFailures, "failed connect", "failed connects")]
            if queued > 0 { parts.append("\(queued) queued") }
        }
        return parts.joined(separator: ", ")
    }
}
