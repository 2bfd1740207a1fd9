import FlowgenCore

/// The flow table operations a replay needs, whichever engine holds the table: the kernel map
/// (`FlowTable`) or the native library's table (`NativeFlowTable`). Keys and values are the raw
/// bytes of `struct fg_flow_key` and `struct fg_record`.
protocol ReplayTable {
    /// Every entry, left in the table.
    func snapshot() throws -> FlowSnapshot
    /// Every entry, removed from the table.
    func drain() throws -> FlowSnapshot
    /// The value stored under `key`, nil if absent.
    func lookup(_ key: [UInt8]) throws -> [UInt8]?
    /// Removes `key` and returns the value it had; nil if absent.
    func lookupAndDelete(_ key: [UInt8]) throws -> [UInt8]?
    /// Removes the packed keys in `keys`; keys already gone are skipped.
    func deleteBatch(keys: [UInt8]) throws
    /// Every entry (removed as read when `deleting`), a run at a time (see `FlowTable.walk`).
    func walk(deleting: Bool, _ body: (FlowEntries) throws -> Void) throws
    /// Calls `body` with every entry, left in the table: where the table keeps them when it can be
    /// read in place (no packet runs during a pass), else from a snapshot.
    func withEntries<R>(_ body: (FlowEntries) throws -> R) throws -> R
    /// The most entries the table holds, when known.
    var capacityHint: Int? { get }
}

extension ReplayTable {
    /// The whole table as one run.
    func walk(deleting: Bool, _ body: (FlowEntries) throws -> Void) throws {
        try FlowEntries.withEntries(of: deleting ? drain() : snapshot(), body)
    }

    /// From a snapshot (a kernel map cannot be read in place).
    func withEntries<R>(_ body: (FlowEntries) throws -> R) throws -> R {
        try FlowEntries.withEntries(of: snapshot(), body)
    }

    /// Unknown.
    var capacityHint: Int? { nil }
}

extension FlowTable: ReplayTable {
    /// The map's capacity.
    var capacityHint: Int? { maxEntries }
}
