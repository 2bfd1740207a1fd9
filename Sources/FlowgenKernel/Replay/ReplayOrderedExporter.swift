import FlowgenCore

/// Puts each batch of ended flows in a fixed order before it is written: by flow start, then by
/// key. The kernel map's iteration order is seeded randomly per map, so without this the same
/// capture would list (and number) the same flows differently from run to run. The batch keeps
/// the FLOW_IDs the collector gave it, reassigned in the new order. (The replay's collector also
/// orders each pass as a whole, `ordersEndedFlows`, which decides what goes in which batch.)
final class ReplayOrderedExporter: FlowExporter {
    let inner: FlowExporter
    let firstSeen: Int?

    init(inner: FlowExporter, decoder: RecordDecoder) {
        self.inner = inner
        self.firstSeen = decoder.firstColumn["first_seen"]
    }

    func export(_ flows: [Biflow]) throws {
        guard flows.count > 1 else { return try inner.export(flows) }
        // sort indices (a biflow is large to move), then build the ordered batch once
        let starts = flows.map(start)
        let order = flows.indices.sorted { i, j in
            if starts[i] != starts[j] { return starts[i] < starts[j] }
            return Self.order(flows[i].forward.key, flows[j].forward.key) ?? Self.order(flows[i].reverse?.key, flows[j].reverse?.key) ?? (i < j)
        }
        let ids = flows.map(\.id).sorted()
        var ordered: [Biflow] = []
        ordered.reserveCapacity(flows.count)
        for (n, i) in order.enumerated() {
            var flow = flows[i]
            flow.id = ids[n]
            ordered.append(flow)
        }
        try inner.export(ordered)
    }

    /// A batch already in that order (the collector's `ordersEndedFlows` sorts each pass the same
    /// way, so in a replay it always is) goes on as it is, from its flat storage: no `Biflow`, with
    /// its two value arrays, is built per flow. Any other batch is sorted as above.
    func export(_ batch: BiflowBatch) throws {
        guard !batch.isInFixedOrder(firstSeenColumn: firstSeen) else { return try inner.export(batch) }
        try export(batch.biflows)
    }

    func close() throws { try inner.close() }

    private func start(_ flow: Biflow) -> UInt64 {
        guard let c = firstSeen else { return 0 }
        return min(flow.forward.values[c], flow.reverse?.values[c] ?? .max)
    }

    /// true/false when `a` sorts before/after `b` (`FlowKey`'s order, as the collector's
    /// `ordersEndedFlows`), nil when equal.
    private static func order(_ a: FlowKey?, _ b: FlowKey?) -> Bool? {
        guard let a, let b else { return a == nil && b == nil ? nil : a == nil }
        return a == b ? nil : a < b
    }
}
