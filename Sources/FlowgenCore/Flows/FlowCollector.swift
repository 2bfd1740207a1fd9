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

/// What a collector pass with early eviction did.
public struct EvictingPollResult: Sendable, Equatable {
    /// The pass as `poll(now:)` reports it (`exported` includes the evicted flows).
    public var poll: PollResult
    /// Biflows exported early with end reason "lack of resources".
    public var evicted: Int
}

/// Drains a flow table, pairs directions into biflows, ends flows (FIN/RST, idle, active timeout)
/// and hands ended ones to the exporter. Holds no per-flow state between passes: the kernel map is
/// the state, which keeps collector memory flat however many flows are active.
///
/// A pass works on the flat snapshot the source reads (keys and records as two byte buffers):
/// pairing and the end decisions read raw fields, and only ended flows are decoded, a batch at a
/// time, so a pass over a million active flows allocates a handful of arrays.
public final class FlowCollector {
    /// The decoder derived from the plan.
    public let decoder: RecordDecoder
    /// Timeouts.
    public var policy: ExpiryPolicy
    /// Biflows handed to the exporter per call (bounds the decoded records held at once).
    public var exportBatch = 4096
    /// Numbers and exports the flows one pass ends in a fixed order (flow start, then forward key,
    /// then reverse key) instead of the table's. Replay sets it: a kernel map's order is seeded per
    /// map, so a pass that ended more flows than `exportBatch` was cut into different batches from
    /// run to run, and the same capture gave the same flows in a different order.
    public var ordersEndedFlows = false
    let source: FlowTableSource
    let pairing: FlowPairing
    let exporter: FlowExporter
    let tcpFlags: RecordField?
    let firstSeen: RecordField?
    let lastSeen: RecordField?
    /// Next FLOW_ID.
    public internal(set) var nextFlowID: UInt64 = 1
    /// Biflows exported so far.
    public internal(set) var exportedTotal: UInt64 = 0

    /// A flow with no packet for this long is removed with the values read, in one batch with the
    /// others (see `FlowTableSource`); busier ones are removed one by one with their final values.
    static let batchRemovalQuietNs: UInt64 = 1_000_000_000

    /// Creates a collector.
    public init(plan: Plan, source: FlowTableSource, exporter: FlowExporter, policy: ExpiryPolicy = ExpiryPolicy()) {
        self.decoder = RecordDecoder(plan: plan)
        self.pairing = FlowPairing(decoder: decoder)
        self.source = source
        self.exporter = exporter
        self.policy = policy
        self.tcpFlags = RecordField(decoder, "tcp_flags")
        self.firstSeen = RecordField(decoder, "first_seen")
        self.lastSeen = RecordField(decoder, "last_seen")
    }

    /// Reads the whole table and decodes every direction.
    public func snapshot() throws -> [FlowRecord] {
        let snapshot = try source.read()
        guard snapshot.keySize >= FlowKey.byteSize, snapshot.valueSize >= decoder.recordSize else { return [] }
        return (0..<snapshot.count).map { record(snapshot, $0) }
    }

    /// One pass at time `now` (same clock as the records' timestamps): exports the flows that ended.
    @discardableResult
    public func poll(now: UInt64) throws -> PollResult {
        try poll(now: now, highWater: .max, lowWater: .max).poll
    }

    /// A pass that also keeps room in the table: after the ended flows, when more than `highWater`
    /// directions remain, the idlest active flows (oldest last packet first) are exported with end
    /// reason "lack of resources" until at most `lowWater` remain, so new flows can still be
    /// inserted instead of being counted as `table_full`.
    @discardableResult
    public func poll(now: UInt64, highWater: Int, lowWater: Int) throws -> EvictingPollResult {
        let snapshot = try source.read()
        var result = PollResult(entries: snapshot.count)
        let pairs = pairing.pairs(snapshot, recordSize: decoder.recordSize)
        var ended: [(pair: FlowPairing.Pair, reason: EndReason)] = []
        // only a table above its high-water mark needs the active flows' ages
        let mayEvict = snapshot.count > highWater
        var active: [(pair: FlowPairing.Pair, last: UInt64)] = []
        var remaining = snapshot.count
        snapshot.values.withUnsafeBytes { values in
            let base = values.baseAddress!, size = snapshot.valueSize
            for pair in pairs {
                let f = base + Int(pair.forward) * size
                let r = pair.reverse >= 0 ? base + Int(pair.reverse) * size : nil
                if let reason = endReason(f, r, isTCP: isTCP(snapshot, pair), now: now) {
                    ended.append((pair, reason))
                    remaining -= r == nil ? 1 : 2
                } else if mayEvict {
                    active.append((pair, lastSeen.map { max($0.load(f), r.map($0.load) ?? 0) } ?? 0))
                } else {
                    result.active += 1
                }
            }
        }
        var evicted = 0
        if mayEvict {
            result.active = active.count
            if remaining > highWater {
                active.sort { $0.last < $1.last }
                for candidate in active where remaining > lowWater {
                    ended.append((candidate.pair, .lackOfResources))
                    remaining -= candidate.pair.reverse < 0 ? 1 : 2
                    evicted += 1
                }
                result.active -= evicted
            }
        }
        result.exported = try export(ended, from: snapshot, now: now)
        return EvictingPollResult(poll: result, evicted: evicted)
    }

    /// Exports every flow in the table with `reason` (flows already ended by FIN/RST keep "end of flow"),
    /// reading and removing the whole table at once.
    @discardableResult
    public func flushAll(reason: EndReason) throws -> Int {
        let snapshot = try source.drainAll()
        let pairs = pairing.pairs(snapshot, recordSize: decoder.recordSize)
        let ended = snapshot.values.withUnsafeBytes { values in
            let base = values.baseAddress, size = snapshot.valueSize
            return pairs.map { pair -> (pair: FlowPairing.Pair, reason: EndReason) in
                let f = base! + Int(pair.forward) * size
                let r = pair.reverse >= 0 ? base! + Int(pair.reverse) * size : nil
                return (pair, isTCP(snapshot, pair) && isTCPEnded(f, r) ? .endOfFlow : reason)
            }
        }
        return try export(ended, from: snapshot, now: nil)
    }

    func isTCP(_ snapshot: FlowSnapshot, _ pair: FlowPairing.Pair) -> Bool {
        snapshot.keys[Int(pair.forward) * snapshot.keySize + FlowKey.protocolOffset] == 6
    }

    func isTCPEnded(_ forward: UnsafeRawPointer, _ reverse: UnsafeRawPointer?) -> Bool {
        guard let c = tcpFlags else { return false }
        let f = c.load(forward), r = reverse.map(c.load) ?? 0
        let fin: UInt64 = 0x01, rst: UInt64 = 0x04
        return (f | r) & rst != 0 || (f & fin != 0 && r & fin != 0)
    }

    func endReason(_ forward: UnsafeRawPointer, _ reverse: UnsafeRawPointer?, isTCP: Bool, now: UInt64) -> EndReason? {
        guard let l = lastSeen, let f = firstSeen else { return nil }
        let last = max(l.load(forward), reverse.map(l.load) ?? 0)
        let first = min(f.load(forward), reverse.map(f.load) ?? .max)
        let quiet = now > last ? now - last : 0
        if isTCP && isTCPEnded(forward, reverse) && quiet >= policy.endQuietNs { return .endOfFlow }
        if quiet >= policy.idleTimeoutNs { return .idleTimeout }
        if now > first && now - first >= policy.activeTimeoutNs { return .activeTimeout }
        return nil
    }

    /// Removes the ended flows from the table and exports them, a batch at a time.
    ///
    /// Quiet flows (`now` given, no packet for `batchRemovalQuietNs`) keep the values read; each
    /// batch's are removed with one `removeAll(keys:)` just before the batch is exported, in the
    /// order the table listed them (a kernel map deletes keys given bucket by bucket faster than in
    /// the pairing's order), so a failed export loses that batch only and the later ones stay in the
    /// table for the next pass. Busy flows are removed one by one as their batch is decoded, with the
    /// values at removal. `now` nil means the snapshot was drained and its values are final.
    ///
    /// Each batch is decoded from the snapshot into one reused `BiflowBatch`, not into a `Biflow`
    /// per flow.
    func export(_ ended: [(pair: FlowPairing.Pair, reason: EndReason)], from snapshot: FlowSnapshot, now: UInt64?) throws -> Int {
        guard !ended.isEmpty else { return 0 }
        let ended = ordersEndedFlows ? inFixedOrder(ended, snapshot) : ended
        let size = max(exportBatch, 1)
        var batch = BiflowBatch(valueCount: decoder.columns.count, capacity: min(size, ended.count))
        var quietEntries: [Int] = []
        var quietKeys: [UInt8] = []
        var start = 0
        while start < ended.count {
            let chunk = ended[start..<min(start + size, ended.count)]
            start = chunk.endIndex
            batch.removeAll()
            quietEntries.removeAll(keepingCapacity: true)
            quietKeys.removeAll(keepingCapacity: true)
            try snapshot.keys.withUnsafeBytes { keys in
                try snapshot.values.withUnsafeBytes { values in
                    let k = snapshot.keySize, v = snapshot.valueSize
                    func key(_ i: Int) -> FlowKey { FlowKey(bytes: UnsafeRawBufferPointer(rebasing: keys[(i * k)..<(i * k + FlowKey.byteSize)])) }
                    // keys, then records: see `BiflowBatch.appendEntry`
                    for (pair, reason) in chunk {
                        let r = Int(pair.reverse)
                        batch.appendEntry(id: nextFlowID, endReason: reason, forwardKey: key(Int(pair.forward)), reverseKey: r >= 0 ? key(r) : nil)
                        nextFlowID += 1
                    }
                    for (pair, _) in chunk {
                        let f = Int(pair.forward), r = Int(pair.reverse)
                        if let now, !isQuiet(snapshot, pair, now: now) {
                            try appendValuesAtRemoval(&batch, forward: f, reverse: r >= 0 ? r : nil, from: snapshot)
                        } else {
                            if now != nil {
                                quietEntries.append(f)
                                if r >= 0 { quietEntries.append(r) }
                            }
                            batch.appendValues(forward: values.baseAddress! + f * v, reverse: r >= 0 ? values.baseAddress! + r * v : nil,
                                               decoder: decoder)
                        }
                    }
                    // in the table's order: each flow's second direction is anywhere in the table
                    quietEntries.sort()
                    for i in quietEntries { quietKeys.append(contentsOf: UnsafeRawBufferPointer(rebasing: keys[(i * k)..<((i + 1) * k)])) }
                }
            }
            if !quietKeys.isEmpty { try source.removeAll(keys: quietKeys, keySize: snapshot.keySize) }
            try exporter.export(batch)
            exportedTotal += UInt64(batch.count)
        }
        return ended.count
    }

    /// `ended` by flow start (the earlier direction's first packet), then forward key, then reverse
    /// key (a one-way flow first): an order of the flows themselves, whatever the table's.
    func inFixedOrder(_ ended: [(pair: FlowPairing.Pair, reason: EndReason)], _ snapshot: FlowSnapshot)
        -> [(pair: FlowPairing.Pair, reason: EndReason)] {
        guard ended.count > 1 else { return ended }
        let k = snapshot.keySize, v = snapshot.valueSize
        var starts = [UInt64](repeating: 0, count: ended.count)
        var forward: [FlowKey] = [], reverse: [FlowKey?] = []
        forward.reserveCapacity(ended.count)
        reverse.reserveCapacity(ended.count)
        snapshot.keys.withUnsafeBytes { keys in
            snapshot.values.withUnsafeBytes { values in
                func key(_ i: Int32) -> FlowKey { FlowKey(bytes: UnsafeRawBufferPointer(rebasing: keys[(Int(i) * k)..<(Int(i) * k + FlowKey.byteSize)])) }
                for (n, (pair, _)) in ended.enumerated() {
                    forward.append(key(pair.forward))
                    reverse.append(pair.reverse >= 0 ? key(pair.reverse) : nil)
                    if let f = firstSeen {
                        let a = f.load(values.baseAddress! + Int(pair.forward) * v)
                        starts[n] = pair.reverse >= 0 ? min(a, f.load(values.baseAddress! + Int(pair.reverse) * v)) : a
                    }
                }
            }
        }
        let order = ended.indices.sorted { i, j in
            if starts[i] != starts[j] { return starts[i] < starts[j] }
            if forward[i] != forward[j] { return forward[i] < forward[j] }
            switch (reverse[i], reverse[j]) {
            case let (a?, b?): return a < b
            case (nil, _?): return true
            default: return false
            }
        }
        return order.map { ended[$0] }
    }

    func isQuiet(_ snapshot: FlowSnapshot, _ pair: FlowPairing.Pair, now: UInt64) -> Bool {
        guard let l = lastSeen else { return false }
        let last = snapshot.values.withUnsafeBytes { values in
            let size = snapshot.valueSize
            return max(l.load(values.baseAddress! + Int(pair.forward) * size),
                       pair.reverse >= 0 ? l.load(values.baseAddress! + Int(pair.reverse) * size) : 0)
        }
        return now >= last && now - last >= Self.batchRemovalQuietNs
    }

    /// Entry `index` of the snapshot, decoded.
    func record(_ snapshot: FlowSnapshot, _ index: Int) -> FlowRecord {
        let k = snapshot.keySize, v = snapshot.valueSize
        return snapshot.keys.withUnsafeBytes { keys in
            snapshot.values.withUnsafeBytes { values in
                decoder.decode(key: FlowKey(bytes: UnsafeRawBufferPointer(rebasing: keys[(index * k)..<(index * k + FlowKey.byteSize)])),
                               value: UnsafeRawBufferPointer(rebasing: values[(index * v)..<((index + 1) * v)]))
            }
        }
    }

    /// Appends the values of a busy ended flow (entries `forward` and `reverse` of the snapshot) at
    /// removal, removing it now one direction at a time, so that packets counted since the read are
    /// exported too; a direction already gone (or shorter than the plan's record) keeps the values read.
    func appendValuesAtRemoval(_ batch: inout BiflowBatch, forward: Int, reverse: Int?, from snapshot: FlowSnapshot) throws {
        func final(_ index: Int) throws -> [UInt8] {
            guard let bytes = try source.remove(key: Array(snapshot.key(at: index))), bytes.count >= decoder.recordSize else {
                return Array(snapshot.value(at: index))
            }
            return bytes
        }
        let f = try final(forward), r = try reverse.map(final) ?? []
        f.withUnsafeBytes { f in
            r.withUnsafeBytes { r in
                batch.appendValues(forward: f.baseAddress!, reverse: reverse == nil ? nil : r.baseAddress!, decoder: decoder)
            }
        }
    }

    /// Continues numbering after an earlier collector of the same table (FLOW_ID stays unique
    /// across a restart); never moves backwards.
    public func resumeNumbering(after lastFlowID: UInt64) {
        if lastFlowID >= nextFlowID { nextFlowID = lastFlowID + 1 }
    }
}

