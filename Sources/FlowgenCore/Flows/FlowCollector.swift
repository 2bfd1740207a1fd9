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
    /// Directions the pass left in the table (`InsertReserve` takes what the next pass finds beyond
    /// them as new).
    public var left = 0
}

/// Drains a flow table, pairs directions into biflows, ends flows (FIN/RST, idle, active timeout)
/// and hands ended ones to the exporter. Holds no per-flow state between passes: the kernel map is
/// the state, which keeps collector memory flat however many flows are active.
///
/// A pass walks the table a chunk at a time (`FlowTableSource.walk`) and decides each flow as soon
/// as its second direction comes: the first-read direction of a flow waits in `UnpairedDirections`
/// with its key and times, and with its record only when it may end in this pass. Pairing and the
/// end decisions read raw fields, and only ended flows are decoded, a batch at a time. So a pass
/// holds about half the flows' keys at mid-walk, and records only of flows that end (the
/// benchmark's million flows, a pass that keeps them and one that ends them all: at most 64-97
/// bytes a flow for base, 153-196 for seed; a copy of the table took 143 and 639).
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
    /// Next FLOW_ID.
    public internal(set) var nextFlowID: UInt64 = 1
    /// Biflows exported so far.
    public internal(set) var exportedTotal: UInt64 = 0
    /// Biflows that could not be exported and were given up (counted, never silent): a failed
    /// batch beyond `maxPendingFlows`, or still failing when the collector was told to give up.
    public internal(set) var lostTotal: UInt64 = 0
    /// Ended flows whose export failed (a full disk, a closed pipe), already removed from the
    /// table: kept, and exported before anything else at the next pass or flush. A pass whose
    /// retry fails again stops before touching the table, so the rest stays in the kernel and this
    /// holds at most one failed batch (or, for `ordersEndedFlows`, the rest of one pass).
    var pending: BiflowBatch?
    /// At most this many failed flows are kept for a retry; more are counted in `lostTotal`.
    public var maxPendingFlows = 65_536
    /// Flows kept for a retry after a failed export.
    public var pendingCount: Int { pending?.count ?? 0 }
    /// When set, flows end in the kernel (see `KernelFlowEnding`): passes and the flush run its
    /// program instead of reading the table, and no packet is lost between reading and removing.
    public var kernelEnding: (any KernelFlowEnding)?
    /// What the last kernel pass did (nil before one, or on the userland path).
    public internal(set) var lastKernelReport: KernelEndingReport?
    /// What the last walk held at most: directions waiting for their reverse, and records among them.
    var lastWalkPeak = (waiting: 0, records: 0)

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
    ///
    /// The table is walked a chunk at a time (see `UnpairedDirections`); each flow is decided as
    /// soon as its second direction comes. Eviction needs the ages of every active flow, known only
    /// at the end of the walk: a pass above the high-water mark walks the table a second time.
    @discardableResult
    public func poll(now: UInt64, highWater: Int, lowWater: Int) throws -> EvictingPollResult {
        if let kernelEnding {
            let before = nextFlowID
            let r = try kernelPass(kernelEnding, .pass(now: now, policy: policy, highWater: highWater, lowWater: lowWater))
            lastKernelReport = r
            // active: the directions left (the kernel pairs only the flows it ends)
            return EvictingPollResult(poll: PollResult(entries: r.entries, exported: Int(nextFlowID - before),
                                                       active: max(0, r.entries - r.movedDirections)), evicted: r.evicted,
                                      left: max(0, r.entries - r.movedDirections - r.successorDirections))
        }
        // the ages of active flows matter only when the table may be above its high-water mark
        let first = try walk(.poll(now: now, notingAges: highWater < .max))
        var result = PollResult(entries: first.entries, exported: first.ended, active: first.active)
        let remaining = first.entries - first.removedDirections
        guard remaining > highWater else { return EvictingPollResult(poll: result, evicted: 0, left: remaining) }
        // the age at which to stop: the idlest flows first, until at most lowWater directions remain
        var left = remaining, count = 0, age: UInt64 = 0
        for packed in first.ages.sorted() where left > lowWater {
            left -= packed & 1 == 1 ? 2 : 1
            count += 1
            age = packed
        }
        guard count > 0 else { return EvictingPollResult(poll: result, evicted: 0, left: remaining) }
        let second = try walk(.evict(now: now, age: age, count: count))
        result.exported += second.ended
        result.active = second.active
        return EvictingPollResult(poll: result, evicted: second.evicted, left: second.entries - second.removedDirections)
    }

    /// Exports every flow in the table with `reason` (flows already ended by FIN/RST keep "end of flow"),
    /// removing each entry as it is read.
    @discardableResult
    public func flushAll(reason: EndReason) throws -> Int {
        if let kernelEnding {
            let before = nextFlowID
            lastKernelReport = try kernelPass(kernelEnding, .flush(reason: reason))
            return Int(nextFlowID - before)
        }
        return try walk(.flush(reason: reason)).ended
    }

    /// What a walk over the table is for.
    enum WalkMode {
        /// A pass at `now`: ended flows exported, the active ones' ages noted when `notingAges`.
        case poll(now: UInt64, notingAges: Bool)
        /// The second walk of a pass above the high-water mark: as `poll`, and active flows whose
        /// (packed) age is at most `age` are exported as lack of resources, `count` at the most.
        case evict(now: UInt64, age: UInt64, count: Int)
        /// The flush: every entry is removed as it is read, every flow ends.
        case flush(reason: EndReason)

        /// The pass's time; nil for the flush (its values are final, nothing is compared with a time).
        var now: UInt64? {
            switch self {
            case let .poll(now, _), let .evict(now, _, _): return now
            case .flush: return nil
            }
        }
    }

    /// A direction when its flow is decided: its key, its record when at hand (read in this chunk,
    /// or kept while it waited), and its times.
    struct Side {
        var key: UnsafeRawPointer
        var record: UnsafeRawPointer?
        var times: UnpairedDirections.Times
        /// Its place in the walk (the table's order).
        var position: Int
    }

    /// What one walk did, and the batch it is filling.
    struct WalkState {
        var entries = 0
        var ended = 0
        var active = 0
        var evicted = 0
        var removedDirections = 0
        /// `poll` noting ages: each active flow's last packet, its lowest bit set when it has two directions.
        var ages: [UInt64] = []
        var batch: BiflowBatch
        /// Keys of the batch's quiet flows and their places in the walk: removed together just
        /// before the batch is exported, in the table's order (a kernel map deletes keys given bucket
        /// by bucket faster than in the order flows complete).
        var quietKeys: [UInt8] = []
        var quietPositions: [Int] = []

        /// Notes a quiet direction for the batch removal before the batch is exported.
        mutating func noteQuiet(_ side: Side) {
            quietKeys.append(contentsOf: UnsafeRawBufferPointer(start: side.key, count: keySize))
            quietPositions.append(side.position)
        }
        var keySize = FlowKey.byteSize
        /// With `ordersEndedFlows`: each flow's start, to sort the pass's flows by.
        var starts: [UInt64] = []
        /// A flush over a source's final entries (`FlowTableSource.withFinalEntries`): the run every
        /// record stays in. The batch then holds the flows' entries only, and `recordPositions` where
        /// in the run each flow's forward and reverse (-1: none) records are; their values are decoded
        /// a batch at a time as they are exported, not all at once.
        var finalEntries: FlowEntries?
        var recordPositions: [(forward: Int, reverse: Int)] = []
    }

    /// Walks the table once, deciding each flow when its second direction comes (or at the end,
    /// for a flow whose reverse is not in the table), and exports the ended ones a batch at a time
    /// (with `ordersEndedFlows`, all at the end in their fixed order).
    func walk(_ mode: WalkMode) throws -> WalkState {
        // the flows of a failed export go first: if they fail again nothing leaves the table
        try retryPending()
        var state = WalkState(batch: BiflowBatch(valueCount: decoder.columns.count, capacity: exportBatch))
        var waiting: UnpairedDirections?
        lastWalkPeak = (0, 0)
        if case .flush = mode, ordersEndedFlows, !discarding {
            // a table that stays still (the end of a native replay): no record is copied while it
            // waits for its reverse, and each exported batch is decoded while the one before it is
            // written (a whole table's decoded flows, held at once, cost more than their formatting)
            let inPlace = try source.withFinalEntries { entries in
                state.finalEntries = entries
                try walkRun(entries, mode, &state, &waiting)
                try decideWaiting(waiting, mode, &state)
                try exportInFixedOrder(&state)
            }
            if inPlace { return state }
        }
        try source.walk(draining: mode.now == nil) { entries in try walkRun(entries, mode, &state, &waiting) }
        try decideWaiting(waiting, mode, &state)
        if ordersEndedFlows { try exportInFixedOrder(&state) } else { try exportBatch(&state) }
        return state
    }

    /// Pairs one run of a walk and decides each flow whose two directions it completes.
    private func walkRun(_ entries: FlowEntries, _ mode: WalkMode, _ state: inout WalkState,
                         _ waiting: inout UnpairedDirections?) throws {
        // entries shorter than the plan's key or record are left out
        guard entries.count > 0, entries.keySize >= FlowKey.byteSize, entries.valueSize >= decoder.recordSize else { return }
        let unpaired = waiting ?? UnpairedDirections(keySize: entries.keySize, valueSize: entries.valueSize,
                                                     capacityHint: source.capacityHint)
        waiting = unpaired
        state.keySize = entries.keySize
        // records that stay in the run are found by position: none is copied while it waits
        let keepsRecords = state.finalEntries == nil
        if ordersEndedFlows {
            // an ordered walk keeps all its ended flows until the end, at most one per entry read
            if keepsRecords {
                state.batch.reserve(flows: state.batch.count + entries.count)
            } else {
                state.batch.entries.reserveCapacity(state.batch.count + entries.count)
                state.recordPositions.reserveCapacity(state.batch.count + entries.count)
            }
        }
        let start = state.entries
        state.entries += entries.count
        try pairing.match(entries, from: start, waiting: unpaired, keep: { keepsRecords && mayEnd($0, mode) }) { i, t, partner in
            let side = Side(key: entries.key(i), record: entries.value(i), times: t, position: start + i)
            guard let partner else { return try decide(side, nil, mode, &state) }
            let other = Side(key: unpaired.key(partner), record: unpaired.record(partner),
                             times: unpaired.times(partner), position: unpaired.position(partner))
            try decide(side, other, mode, &state)
        }
    }

    /// Decides the flows whose directions still wait at the end of a walk (their reverse is not in the table).
    private func decideWaiting(_ waiting: UnpairedDirections?, _ mode: WalkMode, _ state: inout WalkState) throws {
        guard let waiting else { return }
        lastWalkPeak = (waiting.peak, waiting.recordsPeak)
        for slot in waiting.takeAll() {
            let side = Side(key: waiting.key(slot), record: waiting.record(slot), times: waiting.times(slot),
                            position: waiting.position(slot))
            try decide(side, nil, mode, &state)
            waiting.release(slot)
        }
    }

    /// Whether a direction may belong to a flow that ends in this walk, so its record is kept while
    /// it waits for its reverse: its own deadline has passed (a flow ends only once one of its
    /// directions' has). Others wait with their times only.
    func mayEnd(_ t: UnpairedDirections.Times, _ mode: WalkMode) -> Bool {
        guard let now = mode.now else { return true }
        return pairing.hasTimes && FlowDeadline(first: t.first, last: t.last, tcpFlags: t.flags, policy: policy).instant <= now
    }

    /// Decides the flow of `a` and `b` (its reverse, nil for a one-way flow): exported into the
    /// batch when it ended, else counted active.
    func decide(_ a: Side, _ b: Side?, _ mode: WalkMode, _ state: inout WalkState) throws {
        var forward = a, reverse = b
        if let other = b, !pairing.orientedFirst(FlowPairing.Words(a.key, keySize: state.keySize), a.times.first,
                                                 FlowPairing.Words(other.key, keySize: state.keySize), other.times.first) {
            (forward, reverse) = (other, a)
        }
        let isTCP = forward.key.load(fromByteOffset: FlowKey.protocolOffset, as: UInt8.self) == 6
        let last = max(forward.times.last, reverse?.times.last ?? 0)
        var reason: EndReason?
        switch mode {
        case let .flush(given):
            reason = isTCP && isTCPEnded(forward.times, reverse?.times) ? .endOfFlow : given
        case let .poll(now, _), let .evict(now, _, _):
            reason = endReason(forward.times, reverse?.times, isTCP: isTCP, now: now)
        }
        let packedAge = reverse == nil ? last & ~1 : last | 1
        if reason == nil, case let .evict(_, age, count) = mode, state.evicted < count, packedAge <= age {
            reason = .lackOfResources
            state.evicted += 1
        }
        guard let reason else {
            state.active += 1
            if case .poll(_, true) = mode { state.ages.append(packedAge) }
            return
        }
        // quiet flows go with the values read, removed in one batch; busy ones are removed one by one
        // now, with their values at removal (a direction already gone keeps the values read)
        state.removedDirections += reverse == nil ? 1 : 2
        var forwardFinal: [UInt8]?, reverseFinal: [UInt8]?
        if let now = mode.now {
            let quiet = reason != .lackOfResources && now >= last && now - last >= Self.batchRemovalQuietNs
            if quiet && forward.record != nil && (reverse == nil || reverse?.record != nil) {
                state.noteQuiet(forward)
                if let reverse { state.noteQuiet(reverse) }
            } else {
                forwardFinal = try removeWithFinalValues(forward.key, state.keySize)
                reverseFinal = try reverse.flatMap { try removeWithFinalValues($0.key, state.keySize) }
            }
        }
        let start = min(forward.times.first, reverse?.times.first ?? .max)
        if state.finalEntries != nil {
            // the flush of a still table: the records stay where the walk found them, decoded at export
            state.batch.appendEntry(id: 0, endReason: reason, forwardKey: FlowKey(bytes: UnsafeRawBufferPointer(start: forward.key, count: state.keySize)),
                                    reverseKey: reverse.map { FlowKey(bytes: UnsafeRawBufferPointer(start: $0.key, count: state.keySize)) })
            state.recordPositions.append((forward.position, reverse?.position ?? -1))
            state.starts.append(start)
            state.ended += 1
            return
        }
        (forwardFinal ?? []).withUnsafeBytes { f in
            (reverseFinal ?? []).withUnsafeBytes { r in
                append(forward.key, forwardFinal == nil ? forward.record : f.baseAddress,
                       reverse?.key, reverseFinal == nil ? reverse?.record : r.baseAddress, reason, start, &state)
            }
        }
        if !ordersEndedFlows && state.batch.count >= max(exportBatch, 1) { try exportBatch(&state) }
    }

    /// Removes a busy direction, returning its values at removal (nil: gone, or shorter than the plan's record).
    func removeWithFinalValues(_ key: UnsafeRawPointer, _ keySize: Int) throws -> [UInt8]? {
        guard let final = try source.remove(key: Array(UnsafeRawBufferPointer(start: key, count: keySize))),
              final.count >= decoder.recordSize else { return nil }
        return final
    }

    /// Appends an ended flow to the batch; a direction without a record (gone before it was read) is
    /// left out, and a flow with neither is dropped.
    func append(_ forwardKey: UnsafeRawPointer, _ forwardRecord: UnsafeRawPointer?, _ reverseKey: UnsafeRawPointer?,
                _ reverseRecord: UnsafeRawPointer?, _ reason: EndReason, _ start: UInt64, _ state: inout WalkState) {
        var (fk, f, rk, r) = (forwardKey, forwardRecord, reverseRecord == nil ? nil : reverseKey, reverseRecord)
        if f == nil, let present = r, let presentKey = rk { (fk, f, rk, r) = (presentKey, present, nil, nil) }
        guard let f else { return }
        state.batch.appendEntry(id: ordersEndedFlows ? 0 : nextFlowID, endReason: reason,
                                forwardKey: FlowKey(bytes: UnsafeRawBufferPointer(start: fk, count: state.keySize)),
                                reverseKey: rk.map { FlowKey(bytes: UnsafeRawBufferPointer(start: $0, count: state.keySize)) })
        state.batch.appendValues(forward: f, reverse: r, decoder: decoder)
        if ordersEndedFlows { state.starts.append(start) } else { nextFlowID += 1 }
        state.ended += 1
    }

    /// Removes the batch's quiet flows from the table and exports the batch.
    func exportBatch(_ state: inout WalkState) throws {
        try removeQuietFlows(&state)
        guard !state.batch.isEmpty else { return }
        defer { state.batch.removeAll() }
        if discarding {
            lostTotal += UInt64(state.batch.count)
            return
        }
        try deliver(state.batch)
    }

    /// Exports `batch`, or keeps it for a retry and rethrows: its flows are out of the table.
    func deliver(_ batch: BiflowBatch) throws {
        do {
            try exporter.export(batch)
            exportedTotal += UInt64(batch.count)
        } catch {
            keep(batch)
            throw error
        }
    }

    /// Adds a failed batch to `pending`, as far as `maxPendingFlows` allows; the rest is lost.
    func keep(_ batch: BiflowBatch) {
        var kept = pending ?? BiflowBatch(valueCount: batch.valueCount, capacity: batch.count)
        let room = max(0, maxPendingFlows - kept.count)
        for i in 0..<min(room, batch.count) { kept.append(copyOf: i, from: batch, id: batch.entries[i].id) }
        lostTotal += UInt64(max(0, batch.count - room))
        pending = kept.isEmpty ? nil : kept
    }

    /// Exports the flows of an earlier failed export; throws (and keeps them) when it fails again.
    func retryPending() throws {
        guard let batch = pending else { return }
        try exporter.export(batch)
        exportedTotal += UInt64(batch.count)
        pending = nil
    }

    /// Gives up the flows kept after a failed export, counting them as lost; returns how many.
    @discardableResult
    public func abandonPending() -> Int {
        let n = pendingCount
        lostTotal += UInt64(n)
        pending = nil
        return n
    }

    /// Removes every flow from the table without exporting it, and gives up the kept ones,
    /// counting all of them as lost (when the output stays broken and the table must go);
    /// returns how many flows were lost.
    @discardableResult
    public func abandonAll() throws -> Int {
        var n = abandonPending()
        discarding = true
        defer { discarding = false }
        n += try flushAll(reason: .forced)
        return n
    }

    /// Set by `abandonAll`: ended flows are counted as lost instead of exported.
    var discarding = false

    /// The walk's flows by start (the earlier direction's first packet), then forward key, then
    /// reverse key (a one-way flow first): an order of the flows themselves, whatever the table's;
    /// numbered in that order and exported `exportBatch` at a time.
    func exportInFixedOrder(_ state: inout WalkState) throws {
        let all = state.batch
        let order = (0..<all.count).sorted { i, j in
            if state.starts[i] != state.starts[j] { return state.starts[i] < state.starts[j] }
            let a = all.entries[i], b = all.entries[j]
            if a.forwardKey != b.forwardKey { return a.forwardKey < b.forwardKey }
            switch (a.reverseKey, b.reverseKey) {
            case let (x?, y?): return x < y
            case (nil, _?): return true
            default: return false
            }
        }
        try removeQuietFlows(&state)
        defer { state.batch.removeAll() }
        if discarding {
            lostTotal += UInt64(all.count)
            return
        }
        let size = max(exportBatch, 1)
        let final = state.finalEntries, positions = state.recordPositions
        /// Appends flow `i` of the walk to `batch` under the next FLOW_ID (decoded from the still
        /// table's records when the walk left them there).
        func appendFlow(_ i: Int, to batch: inout BiflowBatch) {
            if let final {
                let entry = all.entries[i], at = positions[i]
                batch.appendEntry(id: nextFlowID, endReason: entry.endReason, forwardKey: entry.forwardKey, reverseKey: entry.reverseKey)
                batch.appendValues(forward: final.value(at.forward), reverse: at.reverse < 0 ? nil : final.value(at.reverse), decoder: decoder)
            } else {
                batch.append(copyOf: i, from: all, id: nextFlowID)
            }
            nextFlowID += 1
        }
        var start = 0
        while start < order.count {
            var batch = BiflowBatch(valueCount: all.valueCount, capacity: min(size, order.count - start))
            for i in order[start..<min(start + size, order.count)] { appendFlow(i, to: &batch) }
            start += size
            do {
                try deliver(batch)
            } catch {
                // the pass's later flows are out of the table too: kept with the failed batch
                var rest = BiflowBatch(valueCount: all.valueCount, capacity: order.count - start)
                for i in order[min(start, order.count)...] { appendFlow(i, to: &rest) }
                keep(rest)
                throw error
            }
        }
    }

    /// Removes the quiet flows noted so far in one call, their keys in the table's order.
    func removeQuietFlows(_ state: inout WalkState) throws {
        guard !state.quietKeys.isEmpty else { return }
        let k = state.keySize
        // walk position and index packed in one word: sorting plain integers is several times
        // cheaper than sorting indices through a closure that reads the positions
        let order = state.quietPositions.enumerated().map { UInt64(truncatingIfNeeded: $0.element) << 32 | UInt64($0.offset) }.sorted()
        var keys = [UInt8]()
        keys.reserveCapacity(state.quietKeys.count)
        for packed in order {
            let i = Int(packed & 0xFFFF_FFFF)
            keys.append(contentsOf: state.quietKeys[(i * k)..<((i + 1) * k)])
        }
        try source.removeAll(keys: keys, keySize: k)
        state.quietKeys.removeAll(keepingCapacity: true)
        state.quietPositions.removeAll(keepingCapacity: true)
    }

    /// FIN on both sides or RST on either (flags are 0 when the plan has no `tcp_flags`).
    func isTCPEnded(_ forward: UnpairedDirections.Times, _ reverse: UnpairedDirections.Times?) -> Bool {
        let f = forward.flags, r = reverse?.flags ?? 0
        let fin: UInt64 = 0x01, rst: UInt64 = 0x04
        return (f | r) & rst != 0 || (f & fin != 0 && r & fin != 0)
    }

    func endReason(_ forward: UnpairedDirections.Times, _ reverse: UnpairedDirections.Times?, isTCP: Bool, now: UInt64) -> EndReason? {
        guard pairing.hasTimes else { return nil }
        let last = max(forward.last, reverse?.last ?? 0)
        let first = min(forward.first, reverse?.first ?? .max)
        let quiet = now > last ? now - last : 0
        if isTCP && isTCPEnded(forward, reverse) && quiet >= policy.endQuietNs { return .endOfFlow }
        if quiet >= policy.idleTimeoutNs { return .idleTimeout }
        if now > first && now - first >= policy.activeTimeoutNs { return .activeTimeout }
        return nil
    }

    /// Continues numbering after an earlier collector of the same table (FLOW_ID stays unique
    /// across a restart); never moves backwards.
    public func resumeNumbering(after lastFlowID: UInt64) {
        if lastFlowID >= nextFlowID { nextFlowID = lastFlowID + 1 }
    }
}

