/// Where the collector reads flow entries from: the kernel map live, or anything that holds
/// `struct fg_flow_key` → `struct fg_record` pairs.
///
/// A pass walks the entries once (`walk`, a chunk at a time where the source can), decides which
/// flows ended, and removes them in one of two ways:
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
    /// Reads the entries a pass looks at (`read`) or, `draining`, removes every entry as it reads it
    /// (`drainAll`), handing them to `body` a run at a time in the order read. A source that walks its
    /// table in chunks passes each chunk as it comes, so a pass never holds the whole table; `body`
    /// may remove entries it was given (never others) before it returns.
    func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws
    /// The most entries the table can hold, when known: room the pass may reserve (untouched) up front.
    var capacityHint: Int? { get }
    /// For the flush: calls `body` with every entry as one run that stays where it is, unchanged,
    /// until `body` returns (a table no packet updates any more, read in place, whose entries need
    /// not be removed), and returns true; false, without calling `body`, when the source cannot.
    /// The collector then decodes ended flows straight from the run, a batch at a time, instead of
    /// keeping copies of the records.
    func withFinalEntries(_ body: (FlowEntries) throws -> Void) throws -> Bool
}

/// A run of entries read from a flow table: `count` keys and `count` values packed back to back,
/// borrowed for the duration of the call they are passed to.
public struct FlowEntries {
    /// Bytes per key.
    public let keySize: Int
    /// Bytes per value.
    public let valueSize: Int
    /// Number of entries.
    public let count: Int
    /// `count * keySize` bytes.
    public let keys: UnsafeRawPointer?
    /// `count * valueSize` bytes.
    public let values: UnsafeRawPointer?

    /// Wraps packed keys and values.
    public init(keySize: Int, valueSize: Int, count: Int, keys: UnsafeRawPointer?, values: UnsafeRawPointer?) {
        precondition(count == 0 || (keys != nil && values != nil), "entries without storage")
        (self.keySize, self.valueSize, self.count, self.keys, self.values) = (keySize, valueSize, count, keys, values)
    }

    /// Key of entry `index`.
    @inline(__always)
    public func key(_ index: Int) -> UnsafeRawPointer { keys.unsafelyUnwrapped + index * keySize }

    /// Value of entry `index`.
    @inline(__always)
    public func value(_ index: Int) -> UnsafeRawPointer { values.unsafelyUnwrapped + index * valueSize }

    /// Calls `body` with the entries of a snapshot.
    public static func withEntries<R>(of snapshot: FlowSnapshot, _ body: (FlowEntries) throws -> R) rethrows -> R {
        try snapshot.keys.withUnsafeBytes { keys in
            try snapshot.values.withUnsafeBytes { values in
                try body(FlowEntries(keySize: snapshot.keySize, valueSize: snapshot.valueSize, count: snapshot.count,
                                     keys: keys.baseAddress, values: values.baseAddress))
            }
        }
    }
}

extension FlowTableSource {
    /// The whole `read()` (or `drainAll()`) as one run, for sources that hold their entries anyway.
    public func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws {
        let snapshot = draining ? try drainAll() : try read()
        try FlowEntries.withEntries(of: snapshot, body)
    }

    /// Unknown.
    public var capacityHint: Int? { nil }

    /// Not supported: the flush reads the table through `walk`.
    public func withFinalEntries(_ body: (FlowEntries) throws -> Void) throws -> Bool { false }

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
