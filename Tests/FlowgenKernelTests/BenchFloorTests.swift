import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport
@testable import FlowgenBench

/// The benchmark's own programs compile and pass the verifier, and one short measurement of each
/// path gives sane figures. The benchmark itself (`flowgen bench`) is not run here.
@Suite(.serialized) struct BenchFloorTests {
    func context() throws -> BenchContext {
        let options = BenchOptions(resources: try ResourceLocator.locate(), compiler: ClangCompiler())
        return try BenchContext(options: options, log: { _ in })
    }

    @Test func floorsCompileVerifyAndTimeSanely() throws {
        try requireRoot()
        let context = try context()
        let returnOnly = try context.floors.returnOnly()
        let minimal = try context.floors.minimal(maxFlows: 4096)
        #expect(returnOnly.verifiedInstructions.first ?? 0 > 0)
        #expect(minimal.verifiedInstructions.first ?? 0 > returnOnly.verifiedInstructions.first ?? 0)

        let frame = BenchTraffic.ipv4TCP.frame
        _ = try minimal.run(frame, repetitions: 100)
        #expect(try minimal.flowCount() == 1)
        var floor: [Double] = [], work: [Double] = []
        for _ in 0..<5 {
            floor.append(Double(try returnOnly.run(frame, repetitions: 20_000).durationNanoseconds))
            work.append(Double(try minimal.run(frame, repetitions: 20_000).durationNanoseconds))
        }
        // the figures themselves, and their comparison, are the benchmark's (`flowgen bench --only kernel`)
        let f = BenchSamples(floor).median, w = BenchSamples(work).median
        #expect(f > 0 && w > 0, "BPF_PROG_TEST_RUN reported no time (\(f), \(w) ns)")
    }

    /// The biflow twin keeps one entry for both directions of a conversation (IPv4 and IPv6, the
    /// reply's endpoint lower or higher than the request's), the per-direction twin one each.
    @Test func theBiflowTwinKeepsOneEntryPerConversation() throws {
        try requireRoot()
        let context = try context()
        let perDirection = try context.floors.minimalTwin(of: "test", maxFlows: 4096, recordBytes: 280, preciseClock: true)
        let biflow = try context.floors.minimalBiflowTwin(of: "test", maxFlows: 4096, recordBytes: 280, preciseClock: true)
        let conversations: [(String, String)] = [("198.18.0.1", "198.18.0.2"), ("198.18.0.9", "198.18.0.2"),
                                                 ("fd00:f10e::1", "fd00:f10e::2"), ("fd00:f10e::9", "fd00:f10e::2")]
        func udp(_ src: String, _ dst: String, _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
            let ip = src.contains(":") ? Packet.ethernet().ipv6(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst))
                                       : Packet.ethernet().ipv4(src: .init(stringLiteral: src), dst: .init(stringLiteral: dst))
            return ip.udp(sport: sport, dport: dport, payload: [1]).bytes()
        }
        for (a, b) in conversations {
            let request = udp(a, b, 40000, 53), reply = udp(b, a, 53, 40000)
            for program in [perDirection, biflow] {
                try program.clearFlows()
                _ = try program.run(request, repetitions: 3)
                _ = try program.run(reply, repetitions: 2)
            }
            #expect(try perDirection.flowCount() == 2, "\(a) ↔ \(b)")
            #expect(try biflow.flowCount() == 1, "\(a) ↔ \(b)")
            // and a same-address flow with other ports is a conversation of its own
            _ = try biflow.run(udp(a, b, 40001, 53), repetitions: 1)
            #expect(try biflow.flowCount() == 2, "\(a) ↔ \(b)")
        }
    }

    /// Both layout twins of the kernel pass give out every flow they were given, each once, both
    /// directions with their keys and records as filled (the closing and moved bits gone from the
    /// packet word), and leave their tables empty; a small ring makes them refill it on the way.
    @Test func passTwinsGiveOutEveryFlowTheyWereGiven() throws {
        try requireRoot()
        let context = try context()
        let plan = try context.catalog.plan(features: "", maxFlows: 16_384)
        let keySize = FlowKey.byteSize(defines: plan.defines), size = plan.layout.size
        let biflows = 4_000
        let flows = CollectorBenchmark(context: context).syntheticFlows(plan: plan, biflows: biflows, now: MonotonicClock.nowNs(), keySize: keySize)
        var filled: [[UInt8]: [UInt8]] = [:]
        for i in 0..<biflows * 2 {
            filled[Array(flows.keys[i * keySize..<(i + 1) * keySize])] = Array(flows.values[i * size..<(i + 1) * size])
        }
        #expect(filled.count == biflows * 2, "the fill's keys are distinct")
        for layout in PassTwin.Layout.allCases {
            // 256 KiB, the smallest ring a monitor gets: about 1,500 of base's flows
            let twin = try context.floors.passTwin(layout, keyBytes: keySize, recordBytes: size, directions: biflows * 2 + biflows / 2, ringBytes: 256 << 10)
            try twin.fill(keys: flows.keys, values: flows.values)
            var seen: [[UInt8]: [UInt8]] = [:]
            var twice = 0
            let run = try twin.run { ended in
                for i in 0..<ended.count {
                    let key = Array(UnsafeRawBufferPointer(start: ended.key(i), count: keySize))
                    if seen.updateValue(Array(UnsafeRawBufferPointer(start: ended.record(i), count: size)), forKey: key) != nil { twice += 1 }
                }
            }
            #expect(run.flows == biflows, "\(layout)")
            #expect(run.directions == biflows * 2, "\(layout)")
            #expect(twice == 0, "\(layout)")
            // counted, not compared whole: a failure prints the counts, not 8,000 records
            let wrong = filled.filter { seen[$0.key] != $0.value }.count
            let unknown = seen.keys.filter { filled[$0] == nil }.count
            #expect(wrong == 0 && unknown == 0, "\(layout): \(wrong) directions missing or changed, \(unknown) never filled")
            #expect(run.ringRefills >= 2, "\(layout)")
            #expect(try twin.table.count() == 0, "\(layout)")
        }
    }

    @Test func newFlowDriverMakesEveryRepetitionANewFlow() throws {
        try requireRoot()
        let context = try context()
        let driver = try context.floors.newFlowDriver()
        let minimal = try context.floors.minimal(maxFlows: 4096)
        let base = try context.loadMonitor(BenchFeatureSet(label: "base", kind: .preset, selection: "", preset: nil), maxFlows: 4096)
        for traffic in BenchTraffic.allCases {
            // measure() checks the map holds exactly one flow per repetition, and empties it.
            #expect(try driver.measure(minimal, frame: traffic.frame, repetitions: 512) > 0)
            #expect(try driver.measure(base, frame: traffic.frame, repetitions: 512) > 0)
        }
        #expect(try minimal.flowCount() == 0)
    }

    @Test func presetListResolvesAgainstTheCatalog() throws {
        let context = try context()
        let presets = context.presets.presets
        #expect(presets.first { $0.name == "base" }?.resolve(in: context.catalog) == "")
        #expect(presets.first { $0.name == "all" }?.resolve(in: context.catalog) == "all")
        let sets = context.featureSets
        #expect(sets.first?.label == "base")
        #expect(sets.contains { $0.label == "base+tcp" && $0.selection == "tcp" })
        // A preset whose modules do not exist yet is listed, as not available.
        let missing = BenchPreset(name: "x", selection: "no_such_module", modules: ["no_such_module"])
        #expect(missing.resolve(in: context.catalog) == nil)
    }

    @Test func samplesReportTheMedian() {
        #expect(BenchSamples([3, 1, 2]).median == 2)
        #expect(BenchSamples([4, 1, 3, 2]).median == 2.5)
        #expect(BenchSamples([]).median == 0)
    }
}
