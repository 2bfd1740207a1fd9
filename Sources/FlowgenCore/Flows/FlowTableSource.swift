/// Where the collector reads flow entries from: the kernel map live, or anything that holds
/// `struct fg_flow_key` → `struct fg_record` pairs.
///
/// A pass reads once (`read`), decides which flows ended, and removes them in one of two ways:
/// busy flows one by one with their final values (`remove(key:)`, nothing counted after the read
/// is lost), quiet flows in batches (`removeAll(keys:)`, one call per export batch, keys in the
/// order read; their values as read are final unless a packet lands between the read and the
/// removal, after a second or more of silence).
public protocol FlowTableSource: AnyObject {
    /// The entries a pass looks at (every entry, or a subset the source knows to be sufficient).
    func read() throws -> FlowSnapshot
    /// Atomically removes an entry, returning its final value bytes (nil if it was gone).
    func remove(key: [UInt8]) throws -> [UInt8]?
    /// Removes entries whose values as read are final; `keys` holds `count * keySize` bytes.
    func removeAll(keys: [UInt8], keySize: Int) throws
    /// Reads and removes every entry in one go (values final); for the flush at the end.
    func drainAll() throws -> FlowSnapshot
}

extension FlowTableSource {
    /// One `remove(key:)` per key, for sources without a batch operation.
    public func removeAll(keys: [UInt8], keySize: Int) throws {
        var index = 0
        while index + keySize <= keys.count {
            _ = try remove(key: Array(keys[index..<(index + keySize)]))
            index += keySize
        }
    }

    /// A read followed by one `remove(key:)` per entry, keeping the values each removal returns.
    public func drainAll() throws -> FlowSnapshot {
        let seen = try read()
        var values = [UInt8]()
        var keys = [UInt8]()
        values.reserveCapacity(seen.values.count)
        keys.reserveCapacity(seen.keys.count)
        for i in 0..<seen.count {
            let key = Array(seen.key(at: i))
            guard let value = try remove(key: key), value.count == seen.valueSize else { continue }
            keys += key
            values += value
        }
        return FlowSnapshot(keySize: seen.keySize, valueSize: seen.valueSize, keys: keys, values: values)
    }
}
