/// One record field a feature module declares.
public struct FieldSpec: Sendable, Equatable {
    /// C identifier of the field in `struct fg_record`.
    public var name: String
    /// Element type.
    public var type: CType
    /// Array length: the bin count for histograms, 1 otherwise.
    public var count: Int
    /// How packets update it and how the two directions combine.
    public var aggregation: Aggregation
    /// C expression over `pkt` giving the per-packet value (or the bin index for histograms).
    public var value: String?
    /// The value at creation (`initial:`, a number of the field's type); nil: the aggregation's default.
    public var initial: UInt64?
    /// Output names per direction.
    public var json: DirectionalNames
    /// IPFIX information element, if the field has one.
    public var ipfix: IPFIXElement?
    /// Unit, which also tells the decoder how to present the value.
    public var unit: FieldUnit
    /// The value that means "no sample yet" (e.g. a `min` still at its start); left out of output.
    public var none: UInt64?
    /// Where the field was declared, for error messages.
    public var location: String
    /// `bins:` written as a parameter (`$n`), recomputed when the selection sets it; nil for a number.
    public var binsExpression: String?

    /// Creates a field spec.
    public init(name: String, type: CType, count: Int = 1, aggregation: Aggregation, value: String? = nil,
                initial: UInt64? = nil, json: DirectionalNames = DirectionalNames(), ipfix: IPFIXElement? = nil,
                unit: FieldUnit = .none, location: String = "") {
        self.name = name
        self.type = type
        self.count = count
        self.aggregation = aggregation
        self.value = value
        self.initial = initial
        self.json = json
        self.ipfix = ipfix
        self.unit = unit
        self.location = location
    }

    /// Bytes the field occupies in the record.
    public var byteSize: Int { type.size * count }
}

/// Unsigned C integer types a field may have.
public enum CType: String, Sendable, CaseIterable, Codable {
    /// 8-bit.
    case u8
    /// 16-bit.
    case u16
    /// 32-bit.
    case u32
    /// 64-bit.
    case u64

    /// Size in bytes.
    public var size: Int {
        switch self {
        case .u8: return 1
        case .u16: return 2
        case .u32: return 4
        case .u64: return 8
        }
    }

    /// The kernel C spelling.
    public var cName: String { "__\(rawValue)" }

    /// The largest value, as C text (initial value of `min` fields).
    public var cMax: String {
        switch self {
        case .u8: return "0xff"
        case .u16: return "0xffff"
        case .u32: return "0xffffffffU"
        case .u64: return "0xffffffffffffffffULL"
        }
    }

    /// `value` as a C constant of this type (`initial:` in generated C): hex with the suffix that
    /// keeps a 64-bit value unsigned.
    public func cLiteral(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16) + (size == 8 ? "ULL" : "U")
    }

    /// The largest value.
    public var max: UInt64 {
        size == 8 ? UInt64.max : (UInt64(1) << UInt64(size * 8)) - 1
    }
}

/// How a field is updated per packet and combined across the two directions of a biflow.
public enum Aggregation: Sendable, Equatable {
    /// Atomic add (`__sync_fetch_and_add`); directions add up.
    case sum
    /// Keep the smallest value; combined: the smaller.
    case min
    /// Keep the largest value; combined: the larger.
    case max
    /// Atomic bitwise or; combined: or.
    case or
    /// Value of the flow's first packet, set at creation; combined: the smaller (earliest).
    case first
    /// Value of the latest packet; combined: the larger (latest).
    case last
    /// Per-bin packet counts, `value` is the bin index; combined: bins add up.
    case histogram(bins: Int)

    /// The name used in feature.yaml.
    public var name: String {
        switch self {
        case .sum: return "sum"
        case .min: return "min"
        case .max: return "max"
        case .or: return "or"
        case .first: return "first"
        case .last: return "last"
        case .histogram: return "histogram"
        }
    }

    /// Whether the kernel updates the field with an atomic instruction (needs 32/64-bit fields).
    public var isAtomic: Bool {
        switch self {
        case .sum, .or, .histogram: return true
        default: return false
        }
    }

    /// Combines two directions' values of one element.
    public func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        switch self {
        case .sum, .histogram: return a &+ b
        case .min, .first: return Swift.min(a, b)
        case .max, .last: return Swift.max(a, b)
        case .or: return a | b
        }
    }
}

/// Output names of a field: the initiator's direction, the responder's, and both combined.
public struct DirectionalNames: Sendable, Equatable {
    /// Name(s) for the initiator → responder direction (one per element for histograms).
    public var forward: [String]
    /// Name(s) for the responder → initiator direction.
    public var reverse: [String]
    /// Name(s) for both directions combined by the aggregation.
    public var combined: [String]

    /// Creates a name set; empty lists mean "not exported".
    public init(forward: [String] = [], reverse: [String] = [], combined: [String] = []) {
        self.forward = forward
        self.reverse = reverse
        self.combined = combined
    }
}

/// An IPFIX information element (RFC 7011): id, enterprise number (0 = IANA) and name.
public struct IPFIXElement: Sendable, Equatable, Codable {
    /// Element id.
    public var id: UInt16
    /// Private enterprise number; 0 for IANA elements.
    public var enterprise: UInt32
    /// Element name, e.g. `octetDeltaCount`.
    public var name: String

    /// Creates an element reference.
    public init(id: UInt16, enterprise: UInt32 = 0, name: String = "") {
        self.id = id
        self.enterprise = enterprise
        self.name = name
    }
}

/// What a field's numbers mean.
public enum FieldUnit: String, Sendable, Codable, CaseIterable {
    /// A plain number.
    case none
    /// Packet count.
    case packets
    /// Byte count.
    case octets
    /// Bit flags.
    case flags
    /// Kernel monotonic ns, exported as wall-clock epoch microseconds.
    case timestamp
    /// A duration in ns.
    case nanoseconds
}
