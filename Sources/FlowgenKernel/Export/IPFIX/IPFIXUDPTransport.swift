// CLibBPF too: its shim includes the socket headers, and SOCK_DGRAM was not always found through Glibc alone
import CLibBPF
import FlowgenCore
import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// IPFIX over UDP (RFC 7011 §10.3): messages no larger than the path MTU allows, templates sent at
/// start and again every `templateRefreshInterval` seconds and after `templateRefreshMessages`
/// messages without them (a collector that restarts learns them again), sent synchronously from a
/// connected socket so that ICMP port-unreachable errors come back as send failures. UDP does not
/// retransmit: records in a failed message are counted as lost, and the sequence numbers still
/// advance so the collector sees the gap.
public final class IPFIXUDPTransport: IPFIXTransport {
    /// The collector URL.
    public let destination: IPFIXDestination
    /// The resolved collector address.
    public let address: IPFIXSocketAddress
    /// Seconds between template refreshes.
    public let templateRefreshInterval: Double
    /// Messages without templates after which they are sent again.
    public let templateRefreshMessages: Int
    /// Counters so far.
    public private(set) var statistics = IPFIXTransportStatistics()

    let templates: [IPFIXTemplate]
    let clock: IPFIXClock
    var encoder: IPFIXMessageEncoder
    var fd: Int32
    var lastTemplates: Double?
    var failures: IPFIXFailureReporter

    /// Opens a socket to `host`:`port` and sends the templates. `maxMessageSize` defaults to a
    /// 1500-octet MTU minus the IP and UDP headers.
    public init(host: String, port: UInt16, templates: [IPFIXTemplate], observationDomainID: UInt32,
                maxMessageSize: Int? = nil, templateRefreshInterval: Double = 60, templateRefreshMessages: Int = 100,
                clock: IPFIXClock = .system, log: Logger = .silent) throws {
        precondition(templateRefreshInterval > 0 && templateRefreshMessages > 0, "template refresh needs positive limits")
        destination = .udp(host: host, port: port)
        address = try IPFIXSocketAddress(host: host, port: port, socktype: Int32(SOCK_DGRAM.rawValue))
        self.templates = templates
        self.clock = clock
        self.templateRefreshInterval = templateRefreshInterval
        self.templateRefreshMessages = templateRefreshMessages
        encoder = IPFIXMessageEncoder(observationDomainID: observationDomainID,
                                      maxMessageSize: maxMessageSize ?? 1500 - address.udpOverhead)
        failures = IPFIXFailureReporter(prefix: "ipfix \(destination)", log: log)
        fd = try address.socket(type: Int32(SOCK_DGRAM.rawValue))
        let err = address.connect(fd)
        guard err == 0 else {
            Glibc.close(fd)
            throw IPFIXError.socket("connect to \(address)", err)
        }
        send([])
    }

    deinit { close() }

    /// Sends the records now (with templates when a refresh is due).
    public func send(_ records: [IPFIXDataRecord]) {
        guard fd >= 0 else {
            statistics.recordsLost += UInt64(records.count)
            return
        }
        let now = clock.monotonicSeconds()
        let due = lastTemplates.map { now - $0 >= templateRefreshInterval } ?? true
            || encoder.messagesSinceTemplates >= templateRefreshMessages
        guard due || !records.isEmpty else { return }
        let messages = encoder.encode(templates: due ? templates : [], records: records, exportTime: clock.unixSeconds(),
                                      repeatTemplatesAfter: templateRefreshMessages, refreshTemplates: templates)
        for m in messages {
            let n = m.bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n == m.bytes.count {
                statistics.messagesSent += 1
                statistics.bytesSent += UInt64(n)
                statistics.recordsSent += UInt64(m.dataRecords)
                if m.templateRecords > 0 {
                    statistics.templateMessagesSent += 1
                    lastTemplates = now
                }
            } else {
                let err = n < 0 ? errno : EMSGSIZE
                statistics.sendFailures += 1
                statistics.recordsLost += UInt64(m.dataRecords)
                // the templates may not have arrived either: send them with the next message
                if m.templateRecords > 0 { lastTemplates = nil }
                failures.failure("send failed", detail: Errno(rawValue: err).description + (m.dataRecords > 0 ? ", \(m.dataRecords) flows lost" : ""), now: now)
            }
        }
    }

    /// Closes the socket (UDP holds nothing back to flush).
    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
