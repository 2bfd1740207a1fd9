/// One scalar field's place in `struct fg_record`, read straight from raw record bytes: the
/// collector decides on timestamps and flags this way without decoding whole records.
public struct RecordField: Sendable {
    /// Byte offset in the record.
    public let offset: Int
    /// Size in bytes (1, 2, 4 or 8).
    public let size: Int

    /// The field `name` of the decoder's plan, nil if the plan lacks it.
    public init?(_ decoder: RecordDecoder, _ name: String) {
        guard let column = decoder.firstColumn[name] else { return nil }
        offset = decoder.columns[column].offset
        size = decoder.columns[column].size
    }

    /// The value in the record starting at `record`.
    @inline(__always)
    public func load(_ record: UnsafeRawPointer) -> UInt64 {
        switch size {
        case 8: return record.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        case 4: return UInt64(record.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        case 2: return UInt64(record.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        default: return UInt64(record.load(fromByteOffset: offset, as: UInt8.self))
        }
    }
}
