/// One encoded Data Record and the template that describes it.
public struct IPFIXDataRecord: Sendable, Equatable {
    /// The template (and Data Set) id.
    public var templateID: UInt16
    /// The record's octets, exactly the template's record length.
    public var bytes: [UInt8]

    /// Creates a record.
    public init(templateID: UInt16, bytes: [UInt8]) {
        self.templateID = templateID
        self.bytes = bytes
    }
}
