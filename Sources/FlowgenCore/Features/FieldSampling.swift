/// How the record tells "no sample" from a value, and which packet set a `first`/`last` value.
///
/// Every exported field has a "no sample" state (left out of JSON, empty in CSV, 0 in IPFIX, NULL
/// in ClickHouse, see docs/modules.md), kept in presence bits of the hidden record member
/// `fg__seen` rather than in a sentinel value, so that a `max` of 0 and a `min` of the type's
/// largest value stay real values:
/// - a `min`/`max`/`first` field has a bit of its own, set by its update (`FG_SET`) after the
///   value is stored; a field that every packet samples (a `value:` of a module without
///   `applies_to:`) is present from the flow's first packet and needs no bit; a `last` has one when
///   it has a `value:` and its module an `applies_to:`;
/// - the `sum`/`or`/`histogram` fields of a module with `applies_to:`, and the `last` fields its
///   body sets, share one bit, set when the module's packet classes match; such a field is absent
///   when the module applied to neither direction of the flow, and 0 in a direction that had none
///   of its packets (a `last`: until the body sets it).
/// A `first`/`last` field with a `combined:` name also stores the precise time (`fg_now_precise`)
/// of the packet that set it in the hidden member `fg__t_<name>`: the collector takes the value of
/// the direction whose packet came first (or last), the initiator's on a tie. A field whose value
/// is the packet time itself (`pkt->now`) is its own time.
public struct FieldSampling: Sendable, Equatable {
    /// Name of the presence-bit words in `struct fg_record`.
    public static let seenField = "fg__seen"
    /// Prefix of the hidden members flowgen adds to the record; refused as a module field name.
    public static let reservedPrefix = "fg__"
    /// Name of the feature the hidden record members are listed under in the plan.
    public static let owner = "flowgen"

    /// A presence bit: `fg__seen[word] & mask`.
    public struct Bit: Sendable, Equatable {
        /// Index of the u64 word.
        public var word: Int
        /// The bit within the word.
        public var mask: UInt64
    }

    /// Bits of fields that have one of their own, by field name.
    public private(set) var fieldBits: [String: Bit] = [:]
    /// Bits of modules whose sum/or/histogram fields share one, by module name.
    public private(set) var moduleBits: [String: Bit] = [:]
    /// The module bit each shared-bit field reads, by field name.
    public private(set) var sharedBits: [String: Bit] = [:]
    /// Hidden time member of each `first`/`last` field that has one, by field name.
    public private(set) var timeFields: [String: String] = [:]
    /// u64 words of `fg__seen` (0: the plan needs none).
    public private(set) var words = 0

    /// The sampling of a plan's modules (in plan order, so kernel and collector agree).
    public init(modules: [FeatureModule]) {
        var next = 0
        func take() -> Bit {
            defer { next += 1 }
            return Bit(word: next / 64, mask: UInt64(1) << UInt64(next % 64))
        }
        for module in modules {
            var shared: Bit?
            for field in module.fields where field.isExported {
                if Self.hasOwnBit(field, in: module) {
                    fieldBits[field.name] = take()
                } else if Self.hasSharedBit(field, in: module) {
                    if shared == nil { shared = take() }
                    sharedBits[field.name] = shared
                }
                if Self.hasTime(field) { timeFields[field.name] = Self.reservedPrefix + "t_" + field.name }
            }
            if let shared { moduleBits[module.name] = shared }
        }
        words = (next + 63) / 64
    }

    /// The bit that says whether `field` has a sample, nil when it always has one.
    public func bit(of field: String) -> Bit? { fieldBits[field] ?? sharedBits[field] }

    /// The hidden members these bits and times need, to be placed in the record.
    public var hiddenFields: [FieldSpec] {
        var out: [FieldSpec] = []
        if words > 0 {
            out.append(FieldSpec(name: Self.seenField, type: .u64, count: words, aggregation: .or, location: "flowgen: presence bits"))
        }
        for name in timeFields.keys.sorted() {
            out.append(FieldSpec(name: timeFields[name]!, type: .u64, aggregation: .last, location: "flowgen: time of \(name)"))
        }
        return out
    }

    /// min/max/first: sampled only by the packets whose update sets it, unless every packet does;
    /// a `last` with a `value:` of a module limited to some packet classes too.
    static func hasOwnBit(_ field: FieldSpec, in module: FeatureModule) -> Bool {
        switch field.aggregation {
        case .min, .max, .first: return !(field.value != nil && module.appliesTo.isEmpty)
        case .last: return field.value != nil && !module.appliesTo.isEmpty
        default: return false
        }
    }

    /// sum/or/histogram of a module limited to some packet classes, and a `last` its body sets:
    /// a mark per body store cost the verifier once per state a heavy body leaves (the dns name
    /// walk went past the 1M-instruction limit), so such a `last` is present where the module applies.
    static func hasSharedBit(_ field: FieldSpec, in module: FeatureModule) -> Bool {
        switch field.aggregation {
        case .sum, .or, .histogram: return !module.appliesTo.isEmpty
        case .last: return field.value == nil && !module.appliesTo.isEmpty
        default: return false
        }
    }

    /// A `first`/`last` with a combined name, unless its value is the packet time.
    static func hasTime(_ field: FieldSpec) -> Bool {
        (field.aggregation == .first || field.aggregation == .last) && !field.json.combined.isEmpty
            && field.value?.filter({ !$0.isWhitespace }) != "pkt->now"
    }
}

extension FieldSpec {
    /// Whether the field reaches any output (a JSON name or an IPFIX element); other fields are
    /// module state, which the collector never shows and which keep no presence bits.
    public var isExported: Bool {
        !json.forward.isEmpty || !json.reverse.isEmpty || !json.combined.isEmpty || ipfix != nil
    }
}
