import FlowgenCore

/// The flow table as the collector reads it during a replay. At a pass it presents only the
/// directions that could end at that instant, each with its reverse direction, instead of the
/// whole table; at the end (and when the plan lacks the timestamps) it presents every entry.
///
/// The result is exactly that of a full pass: a biflow ends when both directions are quiet for
/// the idle timeout, or its earliest direction is older than the active timeout, or one direction
/// carries FIN/RST and both are quiet for the end-of-flow delay; in each case at least one
/// direction passes the raw test below, and the collector then decides on the whole pair with
/// its own rules. A pass then costs one batch read and a scan of raw bytes per entry instead of
/// decoding and pairing every active flow each second of capture time.
final class ReplayFlowSource: FlowTableSource {
    /// What `read` presents.
    enum Mode {
        /// Every entry, removed from the map when exported.
        case all
        /// Every entry, for the export at the end of the capture: no worker runs any more, so the
        /// values read are final and exported flows are not deleted one by one (the table is discarded).
        case final
        /// The directions that could end at capture time `now`, and their reverse directions.
        case candidates(now: UInt64)
    }

    var mode: Mode = .all
    /// Present every entry at every pass, as a plain collector source does (tests compare both).
    var presentsEveryEntry = false
    let table: any ReplayTable
    let policy: ExpiryPolicy
    let icmpKeyed: Bool
    let firstSeen: RecordField?
    let lastSeen: RecordField?
    let tcpFlags: RecordField?
    /// Entries in the table and directions presented at the last read.
    private(set) var lastRead = (entries: 0, presented: 0)
    /// After a candidates read: the earliest instant at which a flow not presented could end (a
    /// lower bound: each direction's own idle, active and FIN/RST deadline), and for each presented
    /// biflow its keys and the earliest instant it could end, to be kept if the pass does not export it.
    private(set) var boundOfOthers: UInt64 = .max
    private(set) var presentedPairs: [(key: FlowKey, reverse: FlowKey, bound: UInt64)] = []
    /// Keys the collector removed (exported) since the last read.
    private(set) var removed = Set<FlowKey>()
    /// Values of the directions presented at a pass: while the workers wait they are final, so the
    /// collector's removals take them from here and the keys are deleted in one batch afterwards.
    private var presentedValues: [FlowKey: [UInt8]] = [:]
    private var pendingDeletes: [UInt8] = []

    init(table: any ReplayTable, decoder: RecordDecoder, policy: ExpiryPolicy) {
        self.table = table
        self.policy = policy
        self.icmpKeyed = decoder.plan.defines.contains("FG_WITH_ICMP_KEY")
        firstSeen = RecordField(decoder, "first_seen")
        lastSeen = RecordField(decoder, "last_seen")
        tcpFlags = RecordField(decoder, "tcp_flags")
    }

    func read() throws -> FlowSnapshot {
        guard case let .candidates(now) = mode, firstSeen != nil, lastSeen != nil, !presentsEveryEntry else {
            let snapshot = try table.snapshot()
            lastRead = (snapshot.count, snapshot.count)
            boundOfOthers = 0 // nothing known: every pass must run
            presentedPairs.removeAll()
            presentedValues.removeAll()
            return snapshot
        }
        presentedValues.removeAll(keepingCapacity: true)
        var candidates: [(key: FlowKey, deadline: FlowDeadline)] = []
        var others = UInt64.max
        var keys: [UInt8] = [], values: [UInt8] = []
        // in place where the table allows it: a pass presents few of the entries it scans, and a
        // copy of the whole table (a native one's 100,000 records) cost more than the scan
        let (k, v, count) = try table.withEntries { entries in
            let k = entries.keySize, v = entries.valueSize
            for i in 0..<entries.count {
                let value = entries.value(i)
                let deadline = self.deadline(value)
                guard deadline.instant <= now else {
                    others = min(others, deadline.instant)
                    continue
                }
                let keyBytes = UnsafeRawBufferPointer(start: entries.key(i), count: k)
                let key = FlowKey(bytes: keyBytes)
                let valueBytes = UnsafeRawBufferPointer(start: value, count: v)
                presentedValues[key] = Array(valueBytes)
                candidates.append((key, deadline))
                keys += keyBytes
                values += valueBytes
            }
            return (k, v, entries.count)
        }
        // the other direction of each candidate, straight from the map (the table is still: every worker waits)
        presentedPairs.removeAll(keepingCapacity: true)
        for (key, deadline) in candidates {
            let reverse = key.reversed(icmpKeyed: icmpKeyed)
            var pair = deadline
            if reverse != key, let value = try presentedValues[reverse] ?? table.lookup(reverse.bytes) {
                pair = value.withUnsafeBytes { deadline.combined(with: self.deadline($0.baseAddress!)) }
                if presentedValues.updateValue(value, forKey: reverse) == nil {
                    keys += reverse.bytes
                    values += value
                }
            }
            presentedPairs.append((key, reverse, pair.instant))
        }
        boundOfOthers = others
        removed.removeAll(keepingCapacity: true)
        lastRead = (count, presentedValues.count)
        return FlowSnapshot(keySize: k, valueSize: v, keys: keys, values: values)
    }

    @inline(__always)
    private func deadline(_ value: UnsafeRawPointer) -> FlowDeadline {
        FlowDeadline(first: firstSeen!.load(value), last: lastSeen!.load(value), tcpFlags: tcpFlags?.load(value) ?? 0, policy: policy)
    }

    /// After a pass: the earliest instant at which a flow present in the table could end, from the
    /// last candidates read and what the collector removed since (0 when unknown: every pass must run).
    func nextDeadline() -> UInt64 {
        var bound = boundOfOthers
        for pair in presentedPairs where !removed.contains(pair.key) && !removed.contains(pair.reverse) {
            bound = min(bound, pair.bound)
        }
        return bound
    }

    func remove(key: [UInt8]) throws -> [UInt8]? {
        if case .final = mode { return nil } // the collector keeps the values it read
        let flowKey = key.withUnsafeBytes { FlowKey(bytes: $0) }
        removed.insert(flowKey)
        if case .candidates = mode, let value = presentedValues[flowKey] {
            pendingDeletes.append(contentsOf: key)
            return value
        }
        return try table.lookupAndDelete(key)
    }

    func removeAll(keys: [UInt8], keySize: Int) throws {
        switch mode {
        case .final: return // the table is discarded
        case .candidates:
            // values presented at a pass are final (the workers wait): delete after the pass, in one batch
            var index = 0
            while index + keySize <= keys.count {
                removed.insert(keys.withUnsafeBytes { FlowKey(bytes: UnsafeRawBufferPointer(rebasing: $0[index..<(index + keySize)])) })
                index += keySize
            }
            pendingDeletes += keys
        case .all:
            try table.deleteBatch(keys: keys)
        }
    }

    /// The whole table as one run, as a plain source gives it; at the end of a native replay
    /// (`final`) straight from the library's storage: the table no longer changes, and a copy of it
    /// (every record of the capture's last flows) would cost more than the rest of the export.
    func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws {
        if try withFinalEntries(body) { return }
        try FlowEntries.withEntries(of: draining ? drainAll() : read(), body)
    }

    /// At the end of a native replay (`final`): the library's storage, in place (see `walk`).
    func withFinalEntries(_ body: (FlowEntries) throws -> Void) throws -> Bool {
        guard case .final = mode, let native = table as? NativeFlowTable else { return false }
        lastRead = (native.count, native.count)
        boundOfOthers = 0
        presentedPairs.removeAll()
        presentedValues.removeAll()
        try native.withEntries(body)
        return true
    }

    func drainAll() throws -> FlowSnapshot {
        if case .final = mode { return try read() } // no worker runs: the values read are final
        return try table.drain()
    }

    /// Deletes the directions the collector removed at this pass, in one batch call.
    func commitRemovals() throws {
        defer { pendingDeletes.removeAll(keepingCapacity: true) }
        try table.deleteBatch(keys: pendingDeletes)
    }
}
