import FlowgenCore

/// The flow table of a native build: an open-addressing hash table inside the library with the
/// kernel map's contract (`struct fg_flow_key` → `struct fg_record`, at most `capacity` entries,
/// an insert into a full table fails and the program counts `table_full`). Entries are packed in
/// two arrays, so a snapshot is two copies. The table under a native replay's collector (through
/// `ReplayFlowSource`, or `TableFlowSource` as a plain collector source).
///
/// Not thread-safe: use it from the thread that runs the packets, or while none runs.
public final class NativeFlowTable {
    let library: NativeLibrary

    init(library: NativeLibrary) {
        self.library = library
    }

    /// Bytes per key (`struct fg_flow_key`).
    public var keySize: Int { library.keySize }
    /// Bytes per value (`struct fg_record`).
    public var valueSize: Int { library.valueSize }
    /// Most entries the table holds (the plan's --max-flows).
    public var capacity: Int { library.capacity }
    /// Entries in the table now.
    public var count: Int { Int(library.count()) }

    /// Every entry, left in the table.
    public func snapshot() -> FlowSnapshot {
        let n = count
        return FlowSnapshot(keySize: keySize, valueSize: valueSize,
                            keys: Self.copy(library.keys(), n * keySize), values: Self.copy(library.values(), n * valueSize))
    }

    /// Calls `body` with every entry where the library keeps it, without copying: for reads while
    /// no packet runs (the entries move when one is inserted or deleted). The replay reads the
    /// table only then (at a pass every worker waits).
    func withEntries<R>(_ body: (FlowEntries) throws -> R) rethrows -> R {
        let n = count
        return try body(FlowEntries(keySize: keySize, valueSize: valueSize, count: n,
                                    keys: n > 0 ? library.keys() : nil, values: n > 0 ? library.values() : nil))
    }

    /// Every entry, removed from the table.
    public func drain() -> FlowSnapshot {
        let all = snapshot()
        library.clear()
        return all
    }

    /// The value stored under `key`, nil if absent.
    public func lookup(_ key: [UInt8]) throws -> [UInt8]? {
        try find(key, remove: false)
    }

    /// Removes `key` and returns the value it had; nil if absent.
    public func lookupAndDelete(_ key: [UInt8]) throws -> [UInt8]? {
        try find(key, remove: true)
    }

    /// Removes the packed keys in `keys` (`count * keySize` bytes); keys already gone are skipped.
    public func deleteBatch(keys: [UInt8]) throws {
        guard keys.count % keySize == 0 else {
            throw KernelError.sizeMismatch(what: "flat key buffer for the native flow table", expected: keys.count / keySize * keySize, actual: keys.count)
        }
        guard !keys.isEmpty else { return }
        _ = keys.withUnsafeBytes { library.delete($0.baseAddress, UInt32(keys.count / keySize)) }
    }

    /// Inserts or replaces an entry with the kernel's flags (0 any, 1 only new, 2 only existing),
    /// failing as the kernel map would (`EEXIST`, `ENOENT`, `E2BIG` when full).
    public func update(_ key: [UInt8], _ value: [UInt8], flags: UInt64 = 0) throws {
        try checkKey(key)
        guard value.count == valueSize else {
            throw KernelError.sizeMismatch(what: "value for the native flow table", expected: valueSize, actual: value.count)
        }
        let rc = key.withUnsafeBytes { k in value.withUnsafeBytes { library.update(k.baseAddress, $0.baseAddress, flags) } }
        if rc < 0 { throw KernelError.mapOperationFailed(map: "fg_flows (native)", operation: "update", code: -rc) }
    }

    // MARK: private

    private func find(_ key: [UInt8], remove: Bool) throws -> [UInt8]? {
        try checkKey(key)
        var value = [UInt8](repeating: 0, count: valueSize)
        let rc = key.withUnsafeBytes { k in value.withUnsafeMutableBytes { library.lookup(k.baseAddress, $0.baseAddress, remove ? 1 : 0) } }
        return rc == 0 ? value : nil
    }

    private func checkKey(_ key: [UInt8]) throws {
        guard key.count == keySize else {
            throw KernelError.sizeMismatch(what: "key for the native flow table", expected: keySize, actual: key.count)
        }
    }

    private static func copy(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

extension NativeFlowTable: ReplayTable {
    /// The table's capacity.
    var capacityHint: Int? { capacity }
}
