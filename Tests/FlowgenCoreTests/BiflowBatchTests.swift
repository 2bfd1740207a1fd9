import Foundation
import Testing
@testable import FlowgenCore
import FlowgenKernel
@testable import FlowgenTestSupport

/// The batch path of export: `BiflowBatch` against the `Biflow`s it stands for, and every
/// formatter fed a batch against the same formatter fed those `Biflow`s (themselves checked
/// against the references in `FormatterBytesTests`), byte for byte.
@Suite struct BiflowBatchTests {
    @Test func aBatchHoldsTheFlowsItWasGiven() throws {
        for (name, plan) in try FormatterBytesTests.plans() {
            let decoder = RecordDecoder(plan: plan)
            let flows = randomFlows(plan, count: 300, seed: 77)
            let batch = BiflowBatch(valueCount: decoder.columns.count, flows: flows)
            #expect(batch.count == flows.count)
            #expect(batch.biflows == flows, "\(name)")
            var reused = batch
            reused.removeAll()
            #expect(reused.isEmpty && batch.count == flows.count, "\(name): removing from a copy leaves the original")
            for flow in flows.prefix(10) { reused.append(flow) }
            #expect(reused.biflows == Array(flows.prefix(10)))
        }
    }

    @Test func appendingRawRecordsDecodesThem() throws {
        var g = SplitMix64(seed: 0xBA7C4)
        for (name, plan) in try FormatterBytesTests.plans() {
            let decoder = RecordDecoder(plan: plan)
            let bytes = RecordDecoderTests.randomRecords(decoder, count: 2, &g)
            let key = FlowKey(src: IPAddress16(ipv4: [198, 18, 0, 1]), dst: IPAddress16(ipv4: [198, 18, 0, 2]), sport: 1, dport: 2, proto: 17, ipVersion: 4)
            var batch = BiflowBatch(valueCount: decoder.columns.count)
            var expected: [Biflow] = []
            bytes.withUnsafeBytes { raw in
                let a = raw.baseAddress! + 1, b = a + decoder.recordSize
                let ra = decoder.decode(key: key, value: UnsafeRawBufferPointer(start: a, count: decoder.recordSize))
                let rb = decoder.decode(key: key.reversed(icmpKeyed: true), value: UnsafeRawBufferPointer(start: b, count: decoder.recordSize))
                batch.append(id: 5, endReason: .idleTimeout, forward: (key, a), reverse: (key.reversed(icmpKeyed: true), b), decoder: decoder)
                batch.append(id: 6, endReason: .forced, forward: (key, b), reverse: nil, decoder: decoder)
                expected = [Biflow(id: 5, forward: ra, reverse: rb, endReason: .idleTimeout),
                            Biflow(id: 6, forward: FlowRecord(key: key, values: rb.values), reverse: nil, endReason: .forced)]
            }
            #expect(batch.biflows == expected, "\(name)")
            // the collector's way: every entry of the batch, then every entry's values
            var split = BiflowBatch(valueCount: decoder.columns.count)
            bytes.withUnsafeBytes { raw in
                let a = raw.baseAddress! + 1, b = a + decoder.recordSize
                split.appendEntry(id: 5, endReason: .idleTimeout, forwardKey: key, reverseKey: key.reversed(icmpKeyed: true))
                split.appendEntry(id: 6, endReason: .forced, forwardKey: key, reverseKey: nil)
                split.appendValues(forward: a, reverse: b, decoder: decoder)
                split.appendValues(forward: b, reverse: nil, decoder: decoder)
            }
            #expect(split.biflows == expected, "\(name), entries first")
        }
    }

    @Test(arguments: [OutputFormat.json, .csv, .text])
    func formattingABatchGivesTheBytesOfItsFlows(format: OutputFormat) throws {
        for (name, plan) in try FormatterBytesTests.plans() {
            let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: format)
            let flows = randomFlows(plan, count: format == .text ? 100 : 1500, seed: 4242 + UInt64(name.utf8.count))
            let batch = BiflowBatch(valueCount: RecordDecoder(plan: plan).columns.count, flows: flows)
            for offset in [Int64(0), 1_700_000_000_000_000_000, -3_000_000_000_000] {
                let expected = formatter.formatBytes(flows, epochOffsetNs: offset)
                var got: [UInt8] = Array("prefix".utf8)
                // in three uneven parts: ranges inside the batch, appended one after the other
                for range in [0..<7, 7..<(flows.count / 2), (flows.count / 2)..<flows.count] {
                    formatter.append(batch, range: range, epochOffsetNs: offset, to: &got)
                }
                #expect(got == Array("prefix".utf8) + expected, "\(name) \(format) offset \(offset)")
            }
        }
    }

    @Test func writingABatchWritesTheBytesOfItsFlows() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "seed")
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .json)
        let flows = randomFlows(plan, count: 4000, seed: 99)
        let batch = BiflowBatch(valueCount: RecordDecoder(plan: plan).columns.count, flows: flows)
        for fromBatch in [false, true] {
            let path = NSTemporaryDirectory() + "fgtest-\(UUID().uuidString)"
            defer { unlink(path) }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            try #require(fd >= 0)
            let writer = FlowTextWriter(formatter: formatter)
            let written = fromBatch ? try writer.write(batch, epochOffsetNs: 3, prefix: "#", to: fd)
                                    : try writer.write(flows, epochOffsetNs: 3, prefix: "#", to: fd)
            close(fd)
            #expect(written > FlowTextWriter.flushThreshold, "the batch needs more than one write")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "#" + formatter.format(flows, epochOffsetNs: 3), "from a batch: \(fromBatch)")
        }
    }

    @Test func ipfixRecordsOfABatchAreThoseOfItsFlows() throws {
        for (name, plan) in try FormatterBytesTests.plans() {
            let schema = try IPFIXTemplateBuilder(plan: plan).build()
            let flows = randomFlows(plan, count: 600, seed: 5103 + UInt64(name.utf8.count))
            let batch = BiflowBatch(valueCount: RecordDecoder(plan: plan).columns.count, flows: flows)
            for offset in [Int64(0), 1_700_000_000_000_000_000, -3_000_000_000_000] {
                #expect(schema.records(for: batch, epochOffsetNs: offset) == flows.map { schema.record(for: $0, epochOffsetNs: offset) },
                        "\(name) offset \(offset)")
            }
        }
    }

    /// An exporter that only knows `[Biflow]` still receives every flow of a batch, in order.
    @Test func exportersWithoutABatchPathGetBiflows() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "base")
        let flows = randomFlows(plan, count: 50, seed: 3)
        let out = CapturingExporter()
        let group = ExporterGroup([out])
        try group.export(BiflowBatch(valueCount: RecordDecoder(plan: plan).columns.count, flows: flows))
        #expect(out.flows == flows)
    }
}
