import FlowgenCore
import Logging

/// Exports biflows as IPFIX (RFC 7011) with RFC 5103 reverse elements, to a collector over UDP or
/// TCP or to an IPFIX file, with templates derived from the plan (`IPFIXTemplateBuilder`).
///
/// Transport failures never throw from `export`: they are counted (`statistics`), reported through
/// `log` as they happen (rate-limited), and summed up in one line by `close()`.
public final class IPFIXExporter: FlowExporter {
    /// Session options.
    public struct Options: Sendable {
        /// Observation Domain ID in every message header.
        public var observationDomainID: UInt32 = 0
        /// UDP: seconds between template refreshes.
        public var templateRefreshInterval: Double = 60
        /// UDP: templates are sent again after this many messages without them.
        public var templateRefreshMessages: Int = 100
        /// Largest message in octets; nil: a 1500-octet MTU minus IP/UDP headers for UDP, 65535 for TCP and files.
        public var maxMessageSize: Int?
        /// TCP: queue, back-off and timeouts.
        public var tcp = IPFIXTCPTransport.Options()

        /// Default options.
        public init() {}
    }

    /// The templates.
    public let schema: IPFIXSchema
    /// The transport session.
    public let transport: IPFIXTransport
    /// Flows handed to the transport so far.
    public private(set) var flowsExported: UInt64 = 0

    let epochOffsetNs: () -> Int64
    let log: Logger
    var closed = false

    /// Builds the templates of `plan` and opens `destination`. `epochOffsetNs` turns record time
    /// into Unix time (as for `TextFlowExporter`); `log` receives transport events and the summary.
    public convenience init(plan: Plan, destination: IPFIXDestination, options: Options = Options(),
                            epochOffsetNs: @escaping () -> Int64, clock: IPFIXClock = .system,
                            log: Logger = .silent) throws {
        let schema = try IPFIXTemplateBuilder(plan: plan).build()
        let transport: IPFIXTransport
        switch destination {
        case let .udp(host, port):
            transport = try IPFIXUDPTransport(host: host, port: port, templates: schema.templates,
                                              observationDomainID: options.observationDomainID, maxMessageSize: options.maxMessageSize,
                                              templateRefreshInterval: options.templateRefreshInterval,
                                              templateRefreshMessages: options.templateRefreshMessages, clock: clock, log: log)
        case let .tcp(host, port):
            var tcp = options.tcp
            if let m = options.maxMessageSize { tcp.maxMessageSize = m }
            transport = try IPFIXTCPTransport(host: host, port: port, templates: schema.templates,
                                              observationDomainID: options.observationDomainID, options: tcp, clock: clock, log: log)
        case let .file(path):
            transport = try IPFIXFileTransport(path: path, templates: schema.templates, observationDomainID: options.observationDomainID,
                                               maxMessageSize: options.maxMessageSize ?? FlowgenIPFIX.maxMessageLength,
                                               clock: clock, log: log)
        }
        self.init(schema: schema, transport: transport, epochOffsetNs: epochOffsetNs, log: log)
    }

    /// Exports through an existing transport (which must carry `schema`'s templates).
    public init(schema: IPFIXSchema, transport: IPFIXTransport, epochOffsetNs: @escaping () -> Int64,
                log: Logger = .silent) {
        self.schema = schema
        self.transport = transport
        self.epochOffsetNs = epochOffsetNs
        self.log = log
    }

    deinit {
        // a TCP transport's sender thread runs until closed
        if !closed { transport.close() }
    }

    /// Counters of the transport.
    public var statistics: IPFIXTransportStatistics { transport.statistics }

    /// Encodes the flows and hands them to the transport.
    public func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return }
        let offset = epochOffsetNs()
        var records: [IPFIXDataRecord] = []
        records.reserveCapacity(flows.count)
        for flow in flows { records.append(schema.record(for: flow, epochOffsetNs: offset)) }
        transport.send(records)
        flowsExported += UInt64(flows.count)
    }

    /// Encodes the flows of a batch from its flat storage and hands them to the transport.
    public func export(_ batch: BiflowBatch) throws {
        guard !batch.isEmpty else { return }
        transport.send(schema.records(for: batch, epochOffsetNs: epochOffsetNs()))
        flowsExported += UInt64(batch.count)
    }

    /// Flushes and closes the transport, then logs what it did.
    public func close() throws {
        guard !closed else { return }
        closed = true
        transport.close()
        log.info("ipfix \(transport.destination): \(statistics.summary)")
    }
}
