import FlowgenCore

/// The kernel flow map as a collector source.
final class KernelFlowSource: FlowTableSource {
    let table: FlowTable

    init(table: FlowTable) { self.table = table }

    func forEachEntry(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let snapshot = try table.snapshot()
        let k = snapshot.keySize, v = snapshot.valueSize
        snapshot.keys.withUnsafeBytes { keys in
            snapshot.values.withUnsafeBytes { values in
                for i in 0..<snapshot.count {
                    body(UnsafeRawBufferPointer(rebasing: keys[i * k..<(i + 1) * k]),
                         UnsafeRawBufferPointer(rebasing: values[i * v..<(i + 1) * v]))
                }
            }
        }
    }

    func remove(key: [UInt8]) throws -> [UInt8]? {
        try table.lookupAndDelete(key)
    }
}
