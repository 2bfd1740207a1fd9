import FlowgenCore
import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// An IPFIX File (RFC 5655): the messages one after the other, templates first. The file is opened
/// for appending, so an existing file keeps its flows and gains a new session (templates again,
/// sequence numbers from 0); mode 0640, like the other flow outputs.
public final class IPFIXFileTransport: IPFIXTransport {
    /// The file URL.
    public let destination: IPFIXDestination
    /// Counters so far.
    public private(set) var statistics = IPFIXTransportStatistics()

    let templates: [IPFIXTemplate]
    let clock: IPFIXClock
    var encoder: IPFIXMessageEncoder
    var fd: Int32
    var failures: IPFIXFailureReporter

    /// Opens (or creates) the file and writes the templates.
    public init(path: String, templates: [IPFIXTemplate], observationDomainID: UInt32,
                maxMessageSize: Int = FlowgenIPFIX.maxMessageLength, clock: IPFIXClock = .system,
                log: Logger = .silent) throws {
        destination = .file(path: path)
        self.templates = templates
        self.clock = clock
        encoder = IPFIXMessageEncoder(observationDomainID: observationDomainID, maxMessageSize: maxMessageSize)
        failures = IPFIXFailureReporter(prefix: "ipfix \(destination)", log: log)
        do {
            fd = try OutputFile.openForAppend(path).fd
        } catch let refused as OutputFile.Refused {
            throw IPFIXError.fileRefused(refused.description)
        }
        write(encoder.encode(templates: templates, records: [], exportTime: clock.unixSeconds()))
    }

    deinit { close() }

    /// Appends the records' messages.
    public func send(_ records: [IPFIXDataRecord]) {
        guard !records.isEmpty else { return }
        guard fd >= 0 else {
            statistics.recordsLost += UInt64(records.count)
            return
        }
        write(encoder.encode(templates: [], records: records, exportTime: clock.unixSeconds()))
    }

    func write(_ messages: [IPFIXMessage]) {
        for m in messages {
            var off = 0
            var err: Int32 = 0
            let start = lseek(fd, 0, SEEK_END)
            m.bytes.withUnsafeBytes { raw in
                while off < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { err = n < 0 ? errno : EIO; break }
                }
            }
            if err == 0 {
                statistics.messagesSent += 1
                statistics.bytesSent += UInt64(m.bytes.count)
                statistics.recordsSent += UInt64(m.dataRecords)
                if m.templateRecords > 0 { statistics.templateMessagesSent += 1 }
            } else {
                // a partial message would make the rest of the file unreadable: cut it off again
                if off > 0 && start >= 0 { _ = ftruncate(fd, start) }
                statistics.sendFailures += 1
                statistics.recordsLost += UInt64(m.dataRecords)
                failures.failure("write failed", detail: Errno(rawValue: err).description, now: clock.monotonicSeconds())
            }
        }
    }

    /// Flushes to disk and closes the file.
    public func close() {
        guard fd >= 0 else { return }
        fsync(fd)
        Glibc.close(fd)
        fd = -1
    }
}
