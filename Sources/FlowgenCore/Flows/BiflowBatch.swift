/// Biflows ready for export, decoded into flat storage: every flow's values sit in one array, the
/// forward direction's then the reverse's, so a batch of thousands of flows is two arrays rather
/// than two value arrays per flow (`Biflow`). The collector decodes each batch of ended flows
/// straight from the snapshot into one `BiflowBatch` and reuses its storage for the next batch;
/// exporters that format from it (`FlowExporter.export(_:)`) never build a `Biflow`.
public struct BiflowBatch: Sendable {
    /// A flow's scalars; its values are at `values[index * 2 * valueCount ..<]`.
    struct Entry: Sendable {
        var id: UInt64
        var endReason: EndReason
        var forwardKey: FlowKey
        var reverseKey: FlowKey?
    }

    /// Values per direction (`RecordDecoder.columns.count` of the plan the flows come from).
    public let valueCount: Int
    var entries: [Entry] = []
    /// `2 * valueCount` values per flow; a one-way flow's reverse half is zeros, never read.
    var values: [UInt64] = []

    /// An empty batch of flows with `valueCount` values per direction, with room for `capacity` flows.
    public init(valueCount: Int, capacity: Int = 0) {
        self.valueCount = valueCount
        entries.reserveCapacity(capacity)
        values.reserveCapacity(capacity * 2 * valueCount)
    }

    /// A batch holding `flows` (whose records must have `valueCount` values each).
    public init(valueCount: Int, flows: [Biflow]) {
        self.init(valueCount: valueCount, capacity: flows.count)
        for flow in flows { append(flow) }
    }

    /// Number of flows.
    public var count: Int { entries.count }

    /// Whether the batch holds no flow.
    public var isEmpty: Bool { entries.isEmpty }

    /// Makes room for `flows` flows in all (at least doubling what there is when it grows), so that
    /// a batch that will take a whole table's flows is allocated once instead of being copied at
    /// every doubling: its memory is touched only as flows are appended.
    public mutating func reserve(flows: Int) {
        guard flows > entries.capacity else { return }
        let room = Swift.max(flows, 2 * entries.capacity)
        entries.reserveCapacity(room)
        values.reserveCapacity(room * 2 * valueCount)
    }

    /// Removes every flow, keeping the storage for the next batch.
    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }

    /// Appends a flow whose directions are raw `struct fg_record` bytes (at least
    /// `decoder.recordSize` each), decoding them in place; `reverse` nil for a one-way flow.
    public mutating func append(id: UInt64, endReason: EndReason, forward: (key: FlowKey, record: UnsafeRawPointer),
                                reverse: (key: FlowKey, record: UnsafeRawPointer)?, decoder: RecordDecoder) {
        appendEntry(id: id, endReason: endReason, forwardKey: forward.key, reverseKey: reverse?.key)
        appendValues(forward: forward.record, reverse: reverse?.record, decoder: decoder)
    }

    /// The first half of `append`: a flow's scalars and keys. `appendValues` must follow for every
    /// entry appended, in the same order, before the batch is read; the collector appends a whole
    /// batch's entries, then their values, so that each loop is short enough for the processor to
    /// have many of its reads (at random places of a snapshot larger than any cache) in flight.
    mutating func appendEntry(id: UInt64, endReason: EndReason, forwardKey: FlowKey, reverseKey: FlowKey?) {
        entries.append(Entry(id: id, endReason: endReason, forwardKey: forwardKey, reverseKey: reverseKey))
    }

    /// The second half of `append`: the values of the next entry without them, decoded from raw records.
    mutating func appendValues(forward: UnsafeRawPointer, reverse: UnsafeRawPointer?, decoder: RecordDecoder) {
        precondition(decoder.columns.count == valueCount, "the decoder's plan has another number of values")
        let start = values.count
        precondition(start < entries.count * 2 * valueCount || valueCount == 0, "values for an entry not appended")
        // zeros first: Array has no uninitialised append, and a one-way flow's reverse half stays 0
        values.append(contentsOf: repeatElement(0, count: 2 * valueCount))
        values.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress! + start
            decoder.decode(forward, into: base)
            if let reverse { decoder.decode(reverse, into: base + valueCount) }
        }
    }

    /// Appends flow `index` of `other` (a batch of the same plan) under FLOW_ID `id`.
    mutating func append(copyOf index: Int, from other: BiflowBatch, id: UInt64) {
        precondition(other.valueCount == valueCount, "a batch of another plan")
        var entry = other.entries[index]
        entry.id = id
        entries.append(entry)
        values.append(contentsOf: other.values[(index * 2 * valueCount)..<((index + 1) * 2 * valueCount)])
    }

    /// Appends a decoded flow.
    public mutating func append(_ flow: Biflow) {
        precondition(flow.forward.values.count == valueCount && (flow.reverse?.values.count ?? valueCount) == valueCount,
                     "a record has another number of values than the batch")
        values += flow.forward.values
        if let reverse = flow.reverse { values += reverse.values } else { values.append(contentsOf: repeatElement(0, count: valueCount)) }
        entries.append(Entry(id: flow.id, endReason: flow.endReason, forwardKey: flow.forward.key, reverseKey: flow.reverse?.key))
    }

    /// Flow `index` as a `Biflow` (its values copied into arrays of their own).
    public subscript(index: Int) -> Biflow {
        let entry = entries[index]
        let start = index * 2 * valueCount
        let forward = FlowRecord(key: entry.forwardKey, values: Array(values[start..<(start + valueCount)]))
        let reverse = entry.reverseKey.map { FlowRecord(key: $0, values: Array(values[(start + valueCount)..<(start + 2 * valueCount)])) }
        return Biflow(id: entry.id, forward: forward, reverse: reverse, endReason: entry.endReason)
    }

    /// Every flow as a `Biflow`, for exporters that keep or reorder flows.
    public var biflows: [Biflow] { (0..<count).map { self[$0] } }

    /// Whether the flows are in the collector's fixed order (`FlowCollector.ordersEndedFlows`): by
    /// start (the smaller `first_seen`, value column `firstSeenColumn`, of the two directions;
    /// all starts equal without it), then forward key, then reverse key (a one-way flow first),
    /// with FLOW_IDs ascending. Two flows of equal start and keys count as out of order.
    public func isInFixedOrder(firstSeenColumn: Int?) -> Bool {
        guard count > 1 else { return true }
        let stride = 2 * valueCount
        return values.withUnsafeBufferPointer { values in
            entries.withUnsafeBufferPointer { entries in
                func start(_ i: Int) -> UInt64 {
                    guard let c = firstSeenColumn, c < valueCount else { return 0 }
                    let forward = values[i * stride + c]
                    return entries[i].reverseKey == nil ? forward : Swift.min(forward, values[i * stride + valueCount + c])
                }
                var previous = start(0)
                for i in 1..<entries.count {
                    let a = entries[i - 1], b = entries[i]
                    let s = start(i)
                    guard a.id < b.id, previous <= s else { return false }
                    if previous == s {
                        if a.forwardKey != b.forwardKey {
                            guard a.forwardKey < b.forwardKey else { return false }
                        } else {
                            switch (a.reverseKey, b.reverseKey) {
                            case let (x?, y?): guard x < y else { return false }
                            case (nil, _?): break
                            default: return false
                            }
                        }
                    }
                    previous = s
                }
                return true
            }
        }
    }

    /// Calls `body` with the fields of each flow in `range`, borrowed from the batch's storage.
    @inline(__always)
    func forEachFields(in range: Range<Int>, _ body: (BiflowFields) -> Void) {
        let stride = 2 * valueCount
        entries.withUnsafeBufferPointer { entries in
            values.withUnsafeBufferPointer { values in
                for i in range {
                    // a batch of flows without values (valueCount 0) has no base address to offset
                    let forward = UnsafeBufferPointer(rebasing: values[(i * stride)..<(i * stride + valueCount)])
                    let entry = entries[i]
                    let reverse = entry.reverseKey == nil ? nil
                        : UnsafeBufferPointer(rebasing: values[(i * stride + valueCount)..<((i + 1) * stride)])
                    body(BiflowFields(id: entry.id, endReason: entry.endReason, key: entry.forwardKey, forward: forward, reverse: reverse))
                }
            }
        }
    }
}
