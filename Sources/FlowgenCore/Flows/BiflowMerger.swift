/// Pairs the two directions of each flow (RFC 5103): the initiator is the direction seen first.
public struct BiflowMerger: Sendable {
    /// A paired flow before it is numbered and exported.
    public struct Pair: Sendable, Equatable {
        /// Initiator → responder.
        public var forward: FlowRecord
        /// Responder → initiator, if seen.
        public var reverse: FlowRecord?
    }

    let decoder: RecordDecoder
    let icmpKeyed: Bool
    let firstSeenColumn: Int?

    /// Creates a merger for a plan's records.
    public init(decoder: RecordDecoder) {
        self.decoder = decoder
        self.icmpKeyed = decoder.plan.defines.contains("FG_WITH_ICMP_KEY")
        self.firstSeenColumn = decoder.firstColumn["first_seen"]
    }

    /// Pairs records by reverse key. Every record appears in exactly one pair.
    public func pair(_ records: [FlowRecord]) -> [Pair] {
        var index: [FlowKey: Int] = [:]
        index.reserveCapacity(records.count)
        for (i, r) in records.enumerated() { index[r.key] = i }
        var used = [Bool](repeating: false, count: records.count)
        var pairs: [Pair] = []
        pairs.reserveCapacity(records.count)
        for (i, r) in records.enumerated() where !used[i] {
            used[i] = true
            let reverseKey = r.key.reversed(icmpKeyed: icmpKeyed)
            if reverseKey != r.key, let j = index[reverseKey], !used[j] {
                used[j] = true
                pairs.append(orient(r, records[j]))
            } else {
                pairs.append(Pair(forward: r, reverse: nil))
            }
        }
        return pairs
    }

    /// Orders two directions: the one seen first is the initiator; on a tie an ICMP request wins,
    /// then the lower source port (clients usually use the higher, ephemeral port).
    public func orient(_ a: FlowRecord, _ b: FlowRecord) -> Pair {
        if let c = firstSeenColumn {
            let ta = a.values[c], tb = b.values[c]
            if ta != tb { return ta < tb ? Pair(forward: a, reverse: b) : Pair(forward: b, reverse: a) }
        }
        if a.key.isICMP {
            return a.key.isICMPReply ? Pair(forward: b, reverse: a) : Pair(forward: a, reverse: b)
        }
        return a.key.sport >= b.key.sport ? Pair(forward: a, reverse: b) : Pair(forward: b, reverse: a)
    }
}
