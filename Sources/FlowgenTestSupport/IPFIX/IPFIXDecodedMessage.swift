import FlowgenCore
import FlowgenKernel

/// An IPFIX Message read back by `IPFIXMessageDecoder`.
public struct IPFIXDecodedMessage: Sendable, Equatable {
    /// Header: total length in octets.
    public var length: Int
    /// Header: export time, seconds since the Unix epoch.
    public var exportTime: UInt32
    /// Header: sequence number.
    public var sequenceNumber: UInt32
    /// Header: observation domain id.
    public var observationDomainID: UInt32
    /// Every set in order: id and length (padding included).
    public var sets: [(id: UInt16, length: Int)]
    /// Templates defined (or, with no fields, withdrawn) in this message: id and field specifiers.
    public var templates: [(id: UInt16, fields: [IPFIXFieldSpecifier])]
    /// Data Records in order.
    public var records: [IPFIXDecodedRecord]

    /// Equality of every header field, set and record.
    public static func == (a: IPFIXDecodedMessage, b: IPFIXDecodedMessage) -> Bool {
        a.length == b.length && a.exportTime == b.exportTime && a.sequenceNumber == b.sequenceNumber
            && a.observationDomainID == b.observationDomainID && a.records == b.records
            && a.sets.map(\.id) == b.sets.map(\.id) && a.sets.map(\.length) == b.sets.map(\.length)
            && a.templates.map(\.id) == b.templates.map(\.id) && a.templates.map(\.fields) == b.templates.map(\.fields)
    }
}
