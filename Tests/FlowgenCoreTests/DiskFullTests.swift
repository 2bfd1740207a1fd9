import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
import FlowgenTestSupport

/// Output on a real, tiny tmpfs: what a full disk does to the collector's files and counts.
@Suite(.serialized) struct DiskFullTests {
    let plan: Plan
    let flows = 600
    init() throws { plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp") }

    /// Runs `body` with a tmpfs of `size` mounted on a fresh folder, unmounted and removed after.
    func withTinyDisk(_ size: String, _ body: (String) throws -> Void) throws {
        try requireRootForOwnership()
        let mountPoint = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        try #require(run(["/bin/mount", "-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", mountPoint]) == 0, "mounting a tmpfs needs root")
        defer { _ = run(["/bin/umount", mountPoint]) }
        try body(mountPoint)
    }

    func run(_ argv: [String]) -> Int32 {
        guard let result = try? ProcessRunner.run(argv, timeout: .seconds(30)), !result.terminatedBySignal else { return -1 }
        return result.status
    }

    /// A table of `flows` one-way TCP flows, idle since second 1, and a collector exporting JSON lines into `dir`.
    func collector(_ dir: String) throws -> (MemoryFlowTable, FlowCollector, String) {
        let table = MemoryFlowTable(plan: plan)
        for i in 0..<flows {
            table.put(tcpKey("198.18.\(i / 250).\(i % 250 + 1)", UInt16(1000 + i), "198.19.0.1", 80),
                      ["packets": 1, "bytes": 60, "first_seen": second, "last_seen": second])
        }
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .json)
        let exporter = try TextFlowExporter(formatter: formatter, destination: .directory(dir), epochOffsetNs: { 0 })
        let collector = FlowCollector(plan: plan, source: table, exporter: exporter,
                                      policy: ExpiryPolicy(idleTimeoutNs: 10 * second, activeTimeoutNs: 100 * second))
        collector.exportBatch = 50
        return (table, collector, dir + "/flows-\(TextFlowExporter.utcDay(Date())).jsonl")
    }

    /// Every line of the file, each checked to be a whole JSON object; the FLOW_IDs in order.
    func flowIDs(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Int] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        if data.isEmpty { return [] }
        #expect(data.last == UInt8(ascii: "\n"), "the file ends inside a record", sourceLocation: sourceLocation)
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                                      "not a JSON object: \(String(decoding: line, as: UTF8.self))", sourceLocation: sourceLocation)
            return try #require(object["FLOW_ID"] as? Int, sourceLocation: sourceLocation)
        }
    }

    @Test func aFullDiskLeavesWholeRecordsAndTheFailedBatchIsWrittenLater() throws {
        try withTinyDisk("48k") { dir in
            let (table, collector, path) = try collector(dir)
            #expect(throws: ExportError.self) { try collector.poll(now: 100 * second) }
            let written = try flowIDs(path)
            // the summary's count is the file's: whole batches of 50, the failed one cut off entirely
            #expect(written.count == Int(collector.exportedTotal) && written.count % 50 == 0 && written.count < flows, "\(written.count)")
            #expect(collector.pendingCount == 50 && collector.lostTotal == 0)
            // the failed batch left the table; the rest of the pass stayed in it
            #expect(table.entries.count == flows - written.count - 50)
            // a second pass on a disk still full fails before it takes anything more from the table
            #expect(throws: ExportError.self) { try collector.poll(now: 101 * second) }
            #expect(table.entries.count == flows - written.count - 50 && collector.pendingCount == 50)
            #expect(try flowIDs(path) == written)

            #expect(run(["/bin/mount", "-o", "remount,size=2m", dir]) == 0)
            try collector.poll(now: 102 * second)
            let all = try flowIDs(path)
            // every flow exactly once, numbered 1...600, and the counts agree
            #expect(all.count == flows && Set(all) == Set(1...flows))
            #expect(collector.exportedTotal == UInt64(flows) && collector.pendingCount == 0 && collector.lostTotal == 0)
            #expect(table.entries.isEmpty)
        }
    }

    @Test func whatCannotBeKeptOrWrittenIsCountedAsLost() throws {
        try withTinyDisk("48k") { dir in
            let (table, collector, path) = try collector(dir)
            collector.maxPendingFlows = 20
            #expect(throws: ExportError.self) { try collector.poll(now: 100 * second) }
            let written = try flowIDs(path).count
            #expect(collector.pendingCount == 20 && collector.lostTotal == 30)
            // giving up (the output stays broken at exit): the kept flows and the table's rest are lost, counted
            let lost = try collector.abandonAll()
            #expect(lost == 20 + flows - written - 50 && table.entries.isEmpty)
            #expect(Int(collector.exportedTotal) + Int(collector.lostTotal) == flows)
            #expect(try flowIDs(path).count == written)
        }
    }
}
