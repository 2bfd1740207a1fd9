/// A Field Specifier of a template (RFC 7011 §3.2): element id, length and, for enterprise-specific
/// elements, the enterprise number.
public struct IPFIXFieldSpecifier: Sendable, Hashable, CustomStringConvertible {
    /// Element id (without the enterprise bit).
    public var id: UInt16
    /// Field length in octets.
    public var length: UInt16
    /// Private enterprise number; 0 for IANA elements.
    public var enterprise: UInt32

    /// Creates a specifier.
    public init(id: UInt16, length: UInt16, enterprise: UInt32 = 0) {
        precondition(id & 0x8000 == 0, "the top bit of an element id is the enterprise bit")
        self.id = id
        self.length = length
        self.enterprise = enterprise
    }

    /// Whether the element is a reverse element by RFC 5103's conventions (PEN 29305, or an enterprise
    /// element with bit 0x4000); an enterprise's own reverse elements (ntop's `_OUT`) are not recognised.
    public var isReverse: Bool {
        enterprise == FlowgenIPFIX.reverseEnterpriseNumber
            || (enterprise != 0 && id & FlowgenIPFIX.enterpriseReverseBit != 0)
    }

    /// Octets of the specifier in a template record: 4, or 8 with an enterprise number.
    public var encodedLength: Int { enterprise == 0 ? 4 : 8 }

    /// Appends the wire form.
    public func encode(into out: inout [UInt8]) {
        let idWord = enterprise == 0 ? id : id | 0x8000
        out.appendBigEndian(idWord)
        out.appendBigEndian(length)
        if enterprise != 0 { out.appendBigEndian(enterprise) }
    }

    /// "id", or "PEN/id".
    public var description: String { enterprise == 0 ? "\(id)" : "\(enterprise)/\(id)" }
}

extension Array where Element == UInt8 {
    /// Appends an integer in network byte order.
    @inline(__always)
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// Appends the low `length` octets of `value` in network byte order (reduced-size encoding),
    /// saturating when the value does not fit, as counters should rather than wrapping.
    mutating func appendUnsigned(_ value: UInt64, length: Int) {
        let start = count
        append(contentsOf: repeatElement(0, count: length))
        withUnsafeMutableBufferPointer { IPFIXTemplate.store(value, length, $0.baseAddress! + start) }
    }
}
