/// Where the collector reads flow entries from: the kernel map live, or anything that holds
/// `struct fg_flow_key` → `struct fg_record` pairs.
public protocol FlowTableSource: AnyObject {
    /// Calls `body` for every entry with the raw key and value bytes.
    func forEachEntry(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws
    /// Atomically removes an entry, returning its final value bytes (nil if it was gone).
    func remove(key: [UInt8]) throws -> [UInt8]?
}

/// Timeouts and behaviour of flow expiry.
public struct ExpiryPolicy: Sendable, Equatable {
    /// A flow with no packet for this long ends (ns).
    public var idleTimeoutNs: UInt64
    /// A flow older than this is exported and continues in a new record (ns).
    public var activeTimeoutNs: UInt64
    /// A flow that ended by FIN/RST is exported once quiet this long, so its last ACK joins it (ns).
    public var endQuietNs: UInt64

    /// Creates a policy; defaults follow common exporters (softflowd/nProbe: 15 s idle... here 60 s idle, 30 min active).
    public init(idleTimeoutNs: UInt64 = 60_000_000_000, activeTimeoutNs: UInt64 = 1_800_000_000_000,
                endQuietNs: UInt64 = 1_000_000_000) {
        self.idleTimeoutNs = idleTimeoutNs
        self.activeTimeoutNs = activeTimeoutNs
        self.endQuietNs = endQuietNs
    }
}

/// What one collector pass did.
public struct PollResult: Sendable, Equatable {
    /// Directions (kernel entries) in the table when the pass began.
    public var entries: Int = 0
    /// Biflows exported by this pass.
    public var exported: Int = 0
    /// Biflows still active after the pass.
    public var active: Int = 0
}

/// Drains a flow table, pairs directions into biflows, ends flows (FIN/RST, idle, active timeout)
/// and hands ended ones to the exporter. Holds no per-flow state between passes: the kernel map is
/// the state, which keeps collector memory flat however many flows are active.
public final class FlowCollector {
    /// The decoder derived from the plan.
    public let decoder: RecordDecoder
    /// Timeouts.
    public var policy: ExpiryPolicy
    let source: FlowTableSource
    let merger: BiflowMerger
    let exporter: FlowExporter
    let tcpFlags: Int?
    let firstSeen: Int?
    let lastSeen: Int?
    /// Next FLOW_ID.
    public internal(set) var nextFlowID: UInt64 = 1
    /// Biflows exported so far.
    public internal(set) var exportedTotal: UInt64 = 0

    /// Creates a collector.
    public init(plan: Plan, source: FlowTableSource, exporter: FlowExporter, policy: ExpiryPolicy = ExpiryPolicy()) {
        self.decoder = RecordDecoder(plan: plan)
        self.merger = BiflowMerger(decoder: decoder)
        self.source = source
        self.exporter = exporter
        self.policy = policy
        self.tcpFlags = decoder.firstColumn["tcp_flags"]
        self.firstSeen = decoder.firstColumn["first_seen"]
        self.lastSeen = decoder.firstColumn["last_seen"]
    }

    /// Reads the whole table and decodes every direction.
    public func snapshot() throws -> [FlowRecord] {
        var records: [FlowRecord] = []
        let size = decoder.recordSize
        try source.forEachEntry { key, value in
            guard key.count >= FlowKey.byteSize, value.count >= size else { return }
            records.append(decoder.decode(key: FlowKey(bytes: key), value: value))
        }
        return records
    }

    /// One pass at time `now` (same clock as the records' timestamps): exports the flows that ended.
    @discardableResult
    public func poll(now: UInt64) throws -> PollResult {
        let records = try snapshot()
        var result = PollResult(entries: records.count)
        var ended: [(BiflowMerger.Pair, EndReason)] = []
        for pair in merger.pair(records) {
            if let reason = endReason(pair, now: now) {
                ended.append((pair, reason))
            } else {
                result.active += 1
            }
        }
        result.exported = try export(ended)
        return result
    }

    /// Exports every flow in the table with `reason` (flows already ended by FIN/RST keep "end of flow").
    @discardableResult
    public func flushAll(reason: EndReason) throws -> Int {
        let pairs = merger.pair(try snapshot())
        return try export(pairs.map { ($0, isTCPEnded($0) ? .endOfFlow : reason) })
    }

    func isTCPEnded(_ pair: BiflowMerger.Pair) -> Bool {
        guard let c = tcpFlags, pair.forward.key.proto == 6 else { return false }
        let f = pair.forward.values[c], r = pair.reverse?.values[c] ?? 0
        let fin: UInt64 = 0x01, rst: UInt64 = 0x04
        return (f | r) & rst != 0 || (f & fin != 0 && r & fin != 0)
    }

    func endReason(_ pair: BiflowMerger.Pair, now: UInt64) -> EndReason? {
        guard let l = lastSeen, let f = firstSeen else { return nil }
        let last = max(pair.forward.values[l], pair.reverse?.values[l] ?? 0)
        let first = min(pair.forward.values[f], pair.reverse?.values[f] ?? .max)
        let quiet = now > last ? now - last : 0
        if isTCPEnded(pair) && quiet >= policy.endQuietNs { return .endOfFlow }
        if quiet >= policy.idleTimeoutNs { return .idleTimeout }
        if now > first && now - first >= policy.activeTimeoutNs { return .activeTimeout }
        return nil
    }

    /// Removes the ended flows from the table (taking their final values) and exports them.
    func export(_ ended: [(BiflowMerger.Pair, EndReason)]) throws -> Int {
        guard !ended.isEmpty else { return 0 }
        var flows: [Biflow] = []
        flows.reserveCapacity(ended.count)
        for (pair, reason) in ended {
            let forward = try final(pair.forward)
            let reverse = try pair.reverse.map(final)
            flows.append(Biflow(id: nextFlowID, forward: forward, reverse: reverse, endReason: reason))
            nextFlowID += 1
        }
        try exporter.export(flows)
        exportedTotal += UInt64(flows.count)
        return flows.count
    }

    /// The record's values at removal: packets counted since the snapshot are not lost.
    func final(_ record: FlowRecord) throws -> FlowRecord {
        guard let bytes = try source.remove(key: record.key.bytes), bytes.count >= decoder.recordSize else { return record }
        return bytes.withUnsafeBytes { decoder.decode(key: record.key, value: $0) }
    }
}
