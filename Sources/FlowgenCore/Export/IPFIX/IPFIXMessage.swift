/// One encoded IPFIX Message and what it carries.
public struct IPFIXMessage: Sendable, Equatable {
    /// The message's octets, header included.
    public var bytes: [UInt8]
    /// Data Records it carries.
    public var dataRecords: Int
    /// Template Records it carries.
    public var templateRecords: Int
    /// The Sequence Number in its header: data records of the session encoded before it.
    public var sequenceNumber: UInt32

    /// Creates a message value.
    public init(bytes: [UInt8], dataRecords: Int, templateRecords: Int, sequenceNumber: UInt32) {
        self.bytes = bytes
        self.dataRecords = dataRecords
        self.templateRecords = templateRecords
        self.sequenceNumber = sequenceNumber
    }
}
