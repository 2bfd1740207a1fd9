@testable import FlowgenCore

/// The docs/modules.md semantics table written out plainly, for the reference formatters: whether a
/// direction has a sample, and the value of one direction or both (nil: absent).
enum ReferenceSample {
    static func has(_ values: [UInt64], _ column: Int, _ sample: FieldSample) -> Bool {
        if let none = sample.none, values[column] == none { return false }
        if let bit = sample.bitColumn, !sample.shared, values[bit] & sample.bitMask == 0 { return false }
        return true
    }

    static func value(_ forward: [UInt64], _ reverse: [UInt64]?, column: Int, direction: OutputSchema.Direction,
                      aggregation: Aggregation, sample: FieldSample) -> UInt64? {
        if let bit = sample.bitColumn, sample.shared {
            let applies = forward[bit] & sample.bitMask != 0 || (reverse.map { $0[bit] & sample.bitMask != 0 } ?? false)
            if !applies { return nil }
        }
        let fwd = has(forward, column, sample) ? forward[column] : nil
        let rev = reverse.flatMap { has($0, column, sample) ? $0[column] : nil }
        switch direction {
        case .forward: return fwd
        case .reverse:
            guard reverse != nil else {
                switch aggregation {
                case .sum, .or, .histogram: return 0
                default: return nil
                }
            }
            return rev
        case .combined:
            guard let f = fwd else { return rev }
            guard let r = rev else { return f }
            if let t = sample.timeColumn, let reverse {
                switch aggregation {
                case .first: return reverse[t] < forward[t] ? r : f
                case .last: return reverse[t] > forward[t] ? r : f
                default: break
                }
            }
            return aggregation.combine(f, r)
        }
    }
}

extension FlowRecord {
    /// The record with the presence bits of `fields` set, as the kernel sets them for a direction
    /// that had packets of the fields' modules (e.g. `tcp_flags` for a TCP flow).
    func sampled(_ fields: [String], plan: Plan) -> FlowRecord {
        let decoder = RecordDecoder(plan: plan)
        let sampling = FieldSampling(modules: plan.features)
        var copy = self
        for name in fields {
            guard let bit = sampling.bit(of: name), let words = decoder.firstColumn[FieldSampling.seenField] else { continue }
            copy.values[words + bit.word] |= bit.mask
        }
        return copy
    }
}
