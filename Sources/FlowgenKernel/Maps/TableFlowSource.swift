import FlowgenCore

/// A flow table as a collector source, the kernel map (`FlowTable`) or a native build's
/// (`NativeFlowTable`): batch reads, batch deletion of quiet flows, lookup-and-delete for busy
/// ones, and a draining walk for the flush (`LOOKUP_AND_DELETE_BATCH` on the kernel map).
package final class TableFlowSource: FlowTableSource {
    let table: any ReplayTable

    init(table: any ReplayTable) { self.table = table }

    /// The kernel map as a source, for tooling outside this module (the benchmark's collector section).
    package convenience init(_ flowTable: FlowTable) { self.init(table: flowTable) }

    package func read() throws -> FlowSnapshot { try table.snapshot() }

    package func remove(key: [UInt8]) throws -> [UInt8]? { try table.lookupAndDelete(key) }

    package func removeAll(keys: [UInt8], keySize: Int) throws { try table.deleteBatch(keys: keys) }

    package func drainAll() throws -> FlowSnapshot { try table.drain() }

    package func walk(draining: Bool, _ body: (FlowEntries) throws -> Void) throws { try table.walk(deleting: draining, body) }

    package var capacityHint: Int? { table.capacityHint }
}
