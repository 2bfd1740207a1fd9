import Foundation
import Testing
import FlowgenCore
import CLibBPF
@testable import FlowgenKernel

@Suite("Kernel maps")
struct KernelMapTests {
    /// Flat buffers of `count` distinct keys (index in the first 4 bytes) and values (index in `packets`).
    private static func entries(_ count: Int) -> (keys: [UInt8], values: [UInt8]) {
        var keys = [UInt8](repeating: 0, count: count * 16)
        var values = [UInt8](repeating: 0, count: count * 40)
        keys.withUnsafeMutableBytes { k in
            values.withUnsafeMutableBytes { v in
                for index in 0..<count {
                    k.storeBytes(of: UInt32(index), toByteOffset: index * 16, as: UInt32.self)
                    v.storeBytes(of: UInt64(index), toByteOffset: index * 40, as: UInt64.self)
                }
            }
        }
        return (keys, values)
    }

    @Test func singleEntryOperations() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        let key = KernelFixture.udpKey()
        #expect(try table.lookup(key) == nil)
        #expect(try table.lookupAndDelete(key) == nil)
        #expect(try table.delete(key) == false)

        _ = try ProgramTestRun(programFD: pipeline.entryFD).run(KernelFixture.udpPacket(), repetitions: 3)
        let taken = try #require(try table.lookupAndDelete(key))
        #expect(KernelFixture.u64(taken, at: 0) == 3)
        #expect(try table.lookup(key) == nil)

        try table.update(key, [UInt8](repeating: 1, count: 40))
        #expect(try table.delete(key))
        #expect(try table.count() == 0)
        #expect(throws: KernelError.self) { try table.lookup([1, 2, 3]) }
    }

    /// The chunked walk a collector pass uses: every entry once, a chunk at a time, while the caller
    /// deletes entries it was given (behind the walk's cursor); a draining walk empties the map.
    @Test func aChunkedWalkSeesEveryEntryOnceWhileItsCallerDeletes() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram(mapSizes: ["fg_flows": 20_000])
        defer { pipeline.close() }
        var table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        #expect(table.chunkSize >= 4096, "2 MiB or 4,096 entries a call by default")
        table.chunkSize = 500
        let count = 12_345
        let (keys, values) = Self.entries(count)
        try table.updateBatch(keys: keys, values: values)
        for deleting in [false, true] {
            var seen = Set<UInt32>(), chunks = 0
            try table.walk(deleting: deleting) { entries in
                chunks += 1
                #expect(entries.count <= 500)
                var given: [UInt8] = []
                for i in 0..<entries.count {
                    let id = entries.key(i).loadUnaligned(as: UInt32.self)
                    #expect(seen.insert(id).inserted, "entry \(id) came twice")
                    #expect(entries.value(i).loadUnaligned(as: UInt64.self) == UInt64(id))
                    if !deleting && id % 2 == 0 { given += Array(UnsafeRawBufferPointer(start: entries.key(i), count: 16)) }
                }
                // the even entries of this chunk go now, as a pass removes its quiet flows
                try table.deleteBatch(keys: given)
            }
            #expect(seen.count == (deleting ? count / 2 : count) && chunks > 10)
            #expect(try table.count() == (deleting ? 0 : count - (count + 1) / 2))
        }
    }

    @Test func snapshotDrainAndFallbackAgree() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram(mapSizes: ["fg_flows": 20_000])
        defer { pipeline.close() }
        var table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        table.chunkSize = 1000
        let count = 12_345
        let (keys, values) = Self.entries(count)
        try table.updateBatch(keys: keys, values: values)

        let snapshot = try table.snapshot()
        #expect(snapshot.count == count)
        #expect(try table.count() == count)
        var seen = Set<UInt32>()
        for index in snapshot.indices {
            let id = snapshot.key(at: index).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            #expect(KernelFixture.u64(snapshot.value(at: index), at: 0) == UInt64(id))
            seen.insert(id)
        }
        #expect(seen.count == count)

        let slow = try table.walkOneByOne(deleting: false, keep: true)
        #expect(slow.total == count)
        #expect(Set(slow.snapshot.indices.map { Array(slow.snapshot.key(at: $0)) }) ==
                Set(snapshot.indices.map { Array(snapshot.key(at: $0)) }))

        let drained = try table.drain()
        #expect(drained.count == count)
        #expect(try table.count() == 0)
        #expect(try table.snapshot().isEmpty)
    }

    @Test func batchDeletionSkipsKeysAlreadyGoneAndUnknownCapacityGrows() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram(mapSizes: ["fg_flows": 20_000])
        defer { pipeline.close() }
        var table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        table.chunkSize = 1000
        let count = 5_000
        let (keys, values) = Self.entries(count)
        try table.updateBatch(keys: keys, values: values)
        let keySize = table.keySize
        // every third key is removed first: the batch meets missing keys and must go past them
        for i in stride(from: 0, to: count, by: 3) { try table.delete(Array(keys[(i * keySize)..<((i + 1) * keySize)])) }
        let firstHalf = Array(keys[0..<(count / 2 * keySize)])
        try table.deleteBatch(keys: firstHalf)
        let left = try table.snapshot()
        let ids = Set(left.indices.map { left.key(at: $0).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } })
        let expected = Set((count / 2..<count).filter { $0 % 3 != 0 }.map { UInt32($0) })
        #expect(ids == expected)

        // a table opened by fd alone does not know its capacity: its snapshot grows as it reads
        var byFD = FlowTable(fd: table.fd, keySize: table.keySize, valueSize: table.valueSize)
        byFD.chunkSize = 100
        #expect(try byFD.snapshot().count == expected.count)
    }

    /// A million entries come out whole, by snapshot and by drain. How long that takes, against the
    /// map system calls alone, is measured by `flowgen bench --only collector` (pass and flush,
    /// each with its kernel floor), not judged here.
    @Test func drainsAMillionEntries() throws {
        try KernelFixture.requireRoot()
        let count = 1 << 20
        let pipeline = try KernelFixture.loadCounterProgram(mapSizes: ["fg_flows": UInt32(count)])
        defer { pipeline.close() }
        let table = try FlowTable(pipeline: pipeline, map: "fg_flows")
        let (keys, values) = Self.entries(count)
        try table.updateBatch(keys: keys, values: values)
        let snapshot = try table.snapshot()
        #expect(snapshot.count == count)
        let drained = try table.drain()
        #expect(drained.count == count)
        #expect(try table.count() == 0)
    }
}
