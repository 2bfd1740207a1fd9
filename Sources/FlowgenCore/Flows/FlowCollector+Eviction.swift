/// What a collector pass with early eviction did.
public struct EvictingPollResult: Sendable, Equatable {
    /// The pass as `poll(now:)` reports it (`exported` includes the evicted flows).
    public var poll: PollResult
    /// Biflows exported early with end reason "lack of resources".
    public var evicted: Int
}

extension FlowCollector {
    /// A pass that also keeps room in the table: after the ended flows, when more than `highWater`
    /// directions remain, the idlest active flows (oldest last packet first) are exported with end
    /// reason "lack of resources" until at most `lowWater` remain, so new flows can still be
    /// inserted instead of being counted as `table_full`.
    @discardableResult
    public func poll(now: UInt64, highWater: Int, lowWater: Int) throws -> EvictingPollResult {
        let records = try snapshot()
        var result = PollResult(entries: records.count)
        var ended: [(BiflowMerger.Pair, EndReason)] = []
        var active: [(pair: BiflowMerger.Pair, last: UInt64)] = []
        var remaining = records.count
        for pair in merger.pair(records) {
            if let reason = endReason(pair, now: now) {
                ended.append((pair, reason))
                remaining -= pair.reverse == nil ? 1 : 2
            } else {
                active.append((pair, lastSeenOf(pair)))
            }
        }
        var evicted = 0
        if remaining > highWater {
            active.sort { $0.last < $1.last }
            for candidate in active where remaining > lowWater {
                ended.append((candidate.pair, .lackOfResources))
                remaining -= candidate.pair.reverse == nil ? 1 : 2
                evicted += 1
            }
        }
        result.active = active.count - evicted
        result.exported = try export(ended)
        return EvictingPollResult(poll: result, evicted: evicted)
    }

    /// Continues numbering after an earlier collector of the same table (FLOW_ID stays unique
    /// across a restart); never moves backwards.
    public func resumeNumbering(after lastFlowID: UInt64) {
        if lastFlowID >= nextFlowID { nextFlowID = lastFlowID + 1 }
    }

    private func lastSeenOf(_ pair: BiflowMerger.Pair) -> UInt64 {
        guard let column = lastSeen else { return 0 }
        return max(pair.forward.values[column], pair.reverse?.values[column] ?? 0)
    }
}
