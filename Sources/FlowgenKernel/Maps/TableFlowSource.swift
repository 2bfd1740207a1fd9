import FlowgenCore

/// A flow table as a collector source, the kernel map (`FlowTable`) or a native build's
/// (`NativeFlowTable`): batch reads, batch deletion of quiet flows, lookup-and-delete for busy
/// ones, and a draining walk for the flush (`LOOKUP_AND_DELETE_BATCH` on the kernel map).
final class TableFlowSource: FlowTableSource {
    let table: any ReplayTable

    init(table: any ReplayTable) { self.table = table }

    func read() throws -> FlowSnapshot { try table.snapshot() }

    func remove(key: [UInt8]) throws -> [UInt8]? { try table.lookupAndDelete(key) }

    func removeAll(keys: [UInt8], keySize: Int) throws { try table.deleteBatch(keys: keys) }

    func drainAll() throws -> FlowSnapshot { try table.drain() }

    func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws { try table.walk(deleting: draining, body) }

    var capacityHint: Int? { table.capacityHint }
}
