/// Entries read from a hash map, stored as two flat byte buffers (all keys, then all values).
///
/// Flat buffers keep a million-entry drain to a handful of allocations instead of two arrays per
/// entry; element access hands out slices of the shared buffers (no copy, no allocation).
public struct FlowSnapshot: RandomAccessCollection, Sendable {
    /// Bytes per key.
    public let keySize: Int
    /// Bytes per value.
    public let valueSize: Int
    /// `count * keySize` bytes: entry i's key is `keys[i*keySize ..< (i+1)*keySize]`.
    public let keys: [UInt8]
    /// `count * valueSize` bytes: entry i's value is `values[i*valueSize ..< (i+1)*valueSize]`.
    public let values: [UInt8]

    /// Wraps flat buffers; their lengths must be equal multiples of the sizes.
    public init(keySize: Int, valueSize: Int, keys: [UInt8], values: [UInt8]) {
        precondition(keySize > 0 && valueSize > 0 && keys.count % keySize == 0 && values.count % valueSize == 0
                     && keys.count / keySize == values.count / valueSize, "flat buffers do not match the entry sizes")
        self.keySize = keySize
        self.valueSize = valueSize
        self.keys = keys
        self.values = values
    }

    /// First index (0).
    public var startIndex: Int { 0 }
    /// One past the last entry.
    public var endIndex: Int { keys.count / keySize }

    /// Entry `index` as slices of the flat buffers.
    public subscript(index: Int) -> (key: ArraySlice<UInt8>, value: ArraySlice<UInt8>) {
        (key(at: index), value(at: index))
    }

    /// Key bytes of entry `index`.
    public func key(at index: Int) -> ArraySlice<UInt8> {
        keys[(index * keySize)..<((index + 1) * keySize)]
    }

    /// Value bytes of entry `index`.
    public func value(at index: Int) -> ArraySlice<UInt8> {
        values[(index * valueSize)..<((index + 1) * valueSize)]
    }
}
