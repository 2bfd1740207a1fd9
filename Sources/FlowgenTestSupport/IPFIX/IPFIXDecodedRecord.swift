import FlowgenCore
import FlowgenKernel

/// A Data Record read back by `IPFIXMessageDecoder`: every field's specifier and octets.
public struct IPFIXDecodedRecord: Sendable, Equatable {
    /// The template that described it.
    public var templateID: UInt16
    /// Fields in template order.
    public var fields: [(specifier: IPFIXFieldSpecifier, value: [UInt8])]

    /// Creates a record.
    public init(templateID: UInt16, fields: [(specifier: IPFIXFieldSpecifier, value: [UInt8])]) {
        self.templateID = templateID
        self.fields = fields
    }

    /// The octets of the first field with this element id and enterprise number.
    public func bytes(_ id: UInt16, enterprise: UInt32 = 0) -> [UInt8]? {
        fields.first { $0.specifier.id == id && $0.specifier.enterprise == enterprise }?.value
    }

    /// The first such field as an unsigned number (any length up to 8 octets).
    public func unsigned(_ id: UInt16, enterprise: UInt32 = 0) -> UInt64? {
        guard let b = bytes(id, enterprise: enterprise), b.count <= 8 else { return nil }
        return b.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Equality by template and fields (tuples are not Equatable by themselves).
    public static func == (a: IPFIXDecodedRecord, b: IPFIXDecodedRecord) -> Bool {
        a.templateID == b.templateID && a.fields.count == b.fields.count
            && zip(a.fields, b.fields).allSatisfy { $0.specifier == $1.specifier && $0.value == $1.value }
    }
}
