import FlowgenCore

/// The kernel flow map as a collector source: batch reads, batch deletion of quiet flows,
/// `lookup_and_delete` for busy ones, and `LOOKUP_AND_DELETE_BATCH` for the flush.
final class KernelFlowSource: FlowTableSource {
    let table: FlowTable

    init(table: FlowTable) { self.table = table }

    func read() throws -> FlowSnapshot { try table.snapshot() }

    func remove(key: [UInt8]) throws -> [UInt8]? { try table.lookupAndDelete(key) }

    func removeAll(keys: [UInt8], keySize: Int) throws { try table.deleteBatch(keys: keys) }

    func drainAll() throws -> FlowSnapshot { try table.drain() }
}
