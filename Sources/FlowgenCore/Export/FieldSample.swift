/// Where the collector finds whether a stored field has a sample, and the time of a `first`/`last`
/// value (`FieldSampling` decides which fields have them), resolved to decoder columns.
public struct FieldSample: Sendable, Equatable {
    /// The legacy "no sample" value (`none:` in feature.yaml), if declared.
    public var none: UInt64?
    /// Decoder column of the presence word, nil when the field always has a sample.
    public var bitColumn: Int?
    /// The presence bit in that word.
    public var bitMask: UInt64 = 0
    /// The bit is the module's (sum/or/histogram): present in both directions when set in either.
    public var shared = false
    /// Decoder column of the time of the packet that set a `first`/`last` value.
    public var timeColumn: Int?

    /// Creates a sample description (no bit, no time: always present unless `none`).
    public init(none: UInt64? = nil, bitColumn: Int? = nil, bitMask: UInt64 = 0, shared: Bool = false, timeColumn: Int? = nil) {
        self.none = none
        self.bitColumn = bitColumn
        self.bitMask = bitMask
        self.shared = shared
        self.timeColumn = timeColumn
    }

    /// The sample description of `field` in a plan.
    static func of(_ field: FieldSpec, decoder: RecordDecoder, sampling: FieldSampling) -> FieldSample {
        var sample = FieldSample(none: field.none)
        if let bit = sampling.bit(of: field.name), let words = decoder.firstColumn[FieldSampling.seenField] {
            sample.bitColumn = words + bit.word
            sample.bitMask = bit.mask
            sample.shared = sampling.fieldBits[field.name] == nil
        }
        sample.timeColumn = sampling.timeFields[field.name].flatMap { decoder.firstColumn[$0] }
        return sample
    }
}

/// A stored field's read as plain data, shared by the JSON/CSV and IPFIX writers so both leave out
/// (or zero) exactly the same values: the rules of docs/modules.md's semantics table.
struct SampleRead: Sendable {
    /// Decoder column of the value.
    var column = 0
    /// How the two directions combine when the field has no times.
    var combine: OutputSchema.Combine = .sum
    /// A responder direction that was never seen shows 0 (counts) rather than nothing.
    var zeroWhenOneWay = false
    /// Whether `none` marks "no sample".
    var hasNone = false
    /// The "no sample" value.
    var none: UInt64 = 0
    /// Column of the presence word, -1 without one.
    var bitColumn = -1
    /// The presence bit.
    var bitMask: UInt64 = 0
    /// A module's bit: the field applies to the flow when either direction set it.
    var shared = false
    /// Column of the value's packet time, -1 without one.
    var timeColumn = -1
    /// `first` (the earlier direction wins) rather than `last` (the later wins); for timed fields.
    var earliest = false

    init() {}

    init(column: Int, aggregation: Aggregation, sample: FieldSample) {
        self.column = column
        combine = OutputSchema.Combine(aggregation)
        switch aggregation {
        case .sum, .or, .histogram: zeroWhenOneWay = true
        default: zeroWhenOneWay = false
        }
        hasNone = sample.none != nil
        none = sample.none ?? 0
        bitColumn = sample.bitColumn ?? -1
        bitMask = sample.bitMask
        shared = sample.shared
        timeColumn = sample.timeColumn ?? -1
        earliest = aggregation == .first
    }

    @inline(__always)
    func bit(_ v: UnsafeBufferPointer<UInt64>) -> Bool { bitColumn < 0 || v[bitColumn] & bitMask != 0 }

    /// The direction's own value, nil when it has no sample.
    @inline(__always)
    func own(_ v: UnsafeBufferPointer<UInt64>) -> UInt64? {
        let x = v[column]
        if hasNone && x == none { return nil }
        if !shared && !bit(v) { return nil }
        return x
    }

    /// The value of one direction or both combined; nil when absent.
    @inline(__always)
    func value(_ direction: OutputSchema.Direction, _ fv: UnsafeBufferPointer<UInt64>, _ rv: UnsafeBufferPointer<UInt64>?) -> UInt64? {
        // a module that applied to neither direction: its counts do not apply to the flow
        if shared && !bit(fv) && !(rv.map(bit) ?? false) { return nil }
        switch direction {
        case .forward: return own(fv)
        case .reverse:
            guard let rv else { return zeroWhenOneWay ? 0 : nil }
            return own(rv)
        case .combined:
            let f = own(fv), r = rv.flatMap(own)
            switch (f, r) {
            case let (f?, r?):
                guard timeColumn >= 0, let rv else { return combine(f, r) }
                // by the time of the packet that set each value; a tie goes to the initiator
                let tf = fv[timeColumn], tr = rv[timeColumn]
                return earliest ? (tr < tf ? r : f) : (tr > tf ? r : f)
            case let (f?, nil): return f
            case let (nil, r?): return r
            case (nil, nil): return nil
            }
        }
    }
}
