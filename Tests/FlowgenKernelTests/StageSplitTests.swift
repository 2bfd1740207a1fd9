import Foundation
import Testing
import CLibBPF
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Feature modules heavy enough to force splits under a small stage budget.
func writeHeavyModules() throws -> String {
    let root = NSTemporaryDirectory() + "fgheavy-\(UUID().uuidString)"
    func module(_ name: String, applies: String, field: String, aggregation: String, body: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
        try """
        name: \(name)
        summary: test module
        applies_to: [\(applies)]
        fields:
          - name: \(field)
            type: u64
            aggregation: \(aggregation)
            json: { forward: \(field.uppercased())_IN, reverse: \(field.uppercased())_OUT }
        update: update.bpf.c
        """.write(toFile: root + "/\(name)/feature.yaml", atomically: true, encoding: .utf8)
        try body.write(toFile: root + "/\(name)/update.bpf.c", atomically: true, encoding: .utf8)
    }
    // byte loops over the payload: each iteration has its own bounds check, so they cost the verifier
    try module("payload_sum", applies: "udp", field: "payload_sum", aggregation: "sum", body: """
    __u64 acc = 0;
    for (int i = 0; i < 48; i++) {
    \t__u8 *b = FG_PTR(skb, pkt->payload_off + i, 1);
    \tif (!b)
    \t\tbreak;
    \tacc += *b;
    }
    FG_SET(payload_sum, acc);
    """)
    try module("payload_xor", applies: "udp, tcp", field: "payload_xor", aggregation: "last", body: """
    __u64 acc = 0;
    for (int i = 0; i < 48; i++) {
    \t__u8 *b = FG_PTR(skb, pkt->payload_off + i, 1);
    \tif (!b)
    \t\tbreak;
    \tacc = (acc << 1) ^ *b;
    }
    FG_SET(payload_xor, acc);
    """)
    try module("syn_seen", applies: "tcp", field: "syn_seen", aggregation: "sum", body: """
    if (pkt->tcp_flags & 0x02)
    \tFG_SET(syn_seen, 1);
    """)
    return root
}

/// Tail-called stages: found automatically under a budget, remembered, and giving the same records.
@Suite(.serialized) struct StageSplitTests {
    let features = "tcp,icmp,payload_sum,payload_xor,syn_seen"

    func traffic() -> [PacketBuilder] {
        var out: [PacketBuilder] = []
        for i in 0..<6 {
            let payload = (0..<(10 + i * 7)).map { UInt8(truncatingIfNeeded: $0 * 31 + i) }
            out.append(Packet.ethernet().ipv4().udp(sport: UInt16(1000 + i % 3), dport: 53, payload: payload))
            out.append(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").tcp(sport: 4000, dport: 80, flags: i == 0 ? [.syn] : [.ack], payload: payload))
            out.append(Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").tcp(sport: 80, dport: 4000, flags: i == 0 ? [.syn, .ack] : [.ack, .psh], payload: payload))
            out.append(Packet.ethernet().ipv4().icmpv4(type: 8, identifier: 3, sequence: UInt16(i)))
        }
        return out
    }

    func run(_ h: ProgramHarness) throws -> [FlowKey: FlowRecord] {
        for (i, p) in traffic().enumerated() { try h.send(p, at: UInt64(1_000 + i)) }
        return try h.records()
    }

    @Test func aSplitPipelineGivesTheSameRecordsAsOneProgram() throws {
        try requireRoot()
        let modules = try writeHeavyModules()
        let cache = NSTemporaryDirectory() + "fgsplitcache-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: modules)
            try? FileManager.default.removeItem(atPath: cache)
        }
        let one = try ProgramHarness(features: features, featurePaths: [modules], stages: StagePolicy(maxStages: 1), cacheDirectory: cache)
        #expect(one.monitor.plan.stages.count == 1)
        let single = try #require(one.monitor.plan.stages[0].verifiedInstructions)
        let base = try ProgramHarness(features: "tcp,icmp", cacheDirectory: cache).monitor.plan.stages[0].verifiedInstructions!
        // a budget between "parser and base" and "everything" forces the heavy modules out of stage 0
        let budget = base + (single - base) / 2
        let split = try ProgramHarness(features: features, featurePaths: [modules], stages: StagePolicy(maxStages: 4, budget: budget), cacheDirectory: cache)
        let stages = split.monitor.plan.stages
        #expect(stages.count >= 2, "\(stages)")
        #expect(stages[0].program == "flowgen_entry" && stages[0].features.contains("base"))
        for stage in stages { #expect((stage.verifiedInstructions ?? .max) <= budget, "\(stage)") }
        #expect(Set(stages.flatMap(\.features)) == Set(one.monitor.plan.features.map(\.name)))

        let a = try run(one), b = try run(split)
        #expect(a.count == 6) // 3 UDP, TCP v6, TCP v4 reverse, ICMP
        #expect(a == b)
        #expect(try split.counters()[.tailCallFailed] ?? 0 == 0)

        // remembered: the next load does not search again, and finds the same split
        let again = try ProgramHarness(features: features, featurePaths: [modules], stages: StagePolicy(maxStages: 4, budget: budget), cacheDirectory: cache)
        #expect(again.monitor.plan.stages.map(\.features) == stages.map(\.features))
        let remembered = try FileManager.default.contentsOfDirectory(atPath: cache + "/stage-plans")
        #expect(!remembered.isEmpty)
    }

    @Test func refusingToSplitQuotesWhyOneProgramDoesNotFit() throws {
        try requireRoot()
        let modules = try writeHeavyModules()
        defer { try? FileManager.default.removeItem(atPath: modules) }
        do {
            _ = try ProgramHarness(features: features, featurePaths: [modules], stages: StagePolicy(maxStages: 1, budget: 1000))
            Issue.record("a plan over the budget loaded with --max-stages 1")
        } catch let MonitorError.doesNotFit(reason, hint) {
            #expect(reason.contains("flowgen_entry verified") && reason.contains("budget of 1000"))
            #expect(hint.contains("--max-stages"))
        }
    }

    @Test func aFailedTailCallIsCounted() throws {
        let h = try Self.payloadSumInTwoStages()
        #expect(h.monitor.plan.stages.count == 2)
        let udp = Packet.ethernet().ipv4().udp(sport: 1, dport: 2, payload: [1, 2, 3])
        try h.send(udp)
        #expect(try h.value("payload_sum", key4("198.18.0.1", "198.18.0.2", 1, 2, 17)) == 6)
        // stages run only for packets their features apply to: TCP does not enter the UDP stage
        try h.send(Packet.ethernet().ipv4().tcp(sport: 1, dport: 2, payload: [9]))
        var key: UInt32 = 1
        #expect(bpf_map_delete_elem(try h.monitor.pipeline.mapFD("fg_stages"), &key) == 0)
        try h.send(udp)
        #expect(try h.counters()[.tailCallFailed] == 1)
        #expect(try h.value("packets", key4("198.18.0.1", "198.18.0.2", 1, 2, 17)) == 2)
        #expect(try h.value("payload_sum", key4("198.18.0.1", "198.18.0.2", 1, 2, 17)) == 6)
    }
}

extension StageSplitTests {
    /// `payload_sum` under a budget halfway between the base program and the module in one
    /// program, so that it goes into a second stage.
    static func payloadSumInTwoStages() throws -> ProgramHarness {
        try requireRoot()
        let modules = try writeHeavyModules()
        defer { try? FileManager.default.removeItem(atPath: modules) }
        let one = try ProgramHarness(features: "payload_sum", featurePaths: [modules], stages: StagePolicy(maxStages: 1))
        let base = try ProgramHarness(features: "").monitor.plan.stages[0].verifiedInstructions!
        let budget = base + ((one.monitor.plan.stages[0].verifiedInstructions ?? base) - base) / 2
        return try ProgramHarness(features: "payload_sum", featurePaths: [modules], stages: StagePolicy(maxStages: 2, budget: budget))
    }

    /// A later stage whose flow is gone from the table (deleted by the collector or evicted between
    /// the stages) counts the packet it could not update: the stage program run directly after
    /// the flow was deleted bumps `stage_flow_missing` by one and inserts nothing.
    @Test func aLaterStageThatFindsNoFlowCountsIt() throws {
        let h = try Self.payloadSumInTwoStages()
        try #require(h.monitor.plan.stages.count == 2, "payload_sum must need a second stage under this budget")
        let udp = Packet.ethernet().ipv4().udp(sport: 1, dport: 2, payload: [1, 2, 3])
        try h.send(udp)
        // both stages ran: the flow exists and stage 1 summed the payload 1 + 2 + 3
        #expect(try h.value("payload_sum", key4("198.18.0.1", "198.18.0.2", 1, 2, 17)) == 6)
        #expect(try h.counters()[.stageFlowMissing] ?? 0 == 0)
        // the flow goes, as the collector deletes an ended flow between the stages
        let flows = try h.monitor.pipeline.mapFD("fg_flows")
        let snapshot = try h.monitor.flowTable().snapshot()
        for i in 0..<snapshot.count {
            var key = Array(snapshot.key(at: i))
            #expect(bpf_map_delete_elem(flows, &key) == 0)
        }
        let stage = try ProgramTestRun(programFD: h.monitor.pipeline.programFD(h.monitor.plan.stages[1].program))
        _ = try stage.run(udp.bytes(), context: ProgramTestRun.Context(tstamp: 2_000))
        #expect(try h.counters()[.stageFlowMissing] == 1)
        #expect(try h.records().isEmpty, "a stage never inserts a flow")
    }
}

/// Real captures replayed through one program and through the same features split into stages
/// give identical flows.
@Suite(.serialized) struct StageSplitReplayTests {
    @Test func replayedCapturesGiveTheSameFlowsSplitOrNot() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let modules = try writeHeavyModules()
        defer { try? FileManager.default.removeItem(atPath: modules) }
        let dir = ReplayCorpusTests.corpus
        let names = ["afs.pcap", "bigtcp-ipv4.pcap", "bigtcp-ipv6.pcap", "dns-uri.pcap", "dns-badlabel.pcap", "802.1ad_QinQ.pcap"]
        let files = names.map { dir + "/" + $0 }
        try #require(files.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "the capture corpus is missing at \(dir)")
        let features = "tcp,icmp,payload_sum,payload_xor,syn_seen"
        let common = ["--feature-path", modules, "--features", features]

        func insns(_ extra: [String]) throws -> [Int] {
            let r = try ProcessRunner.run([flowgen, "build", "--emit", "plan"] + common + extra)
            let plan = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
            return ((plan["stages"] as? [[String: Any]]) ?? []).compactMap { $0["verified_insns"] as? Int }
        }
        let single = try #require(try insns(["--max-stages", "1"]).first)
        let base = try #require(try insns(["--features", "tcp,icmp"]).first)
        let budget = base + (single - base) / 2
        #expect(try insns(["--stage-budget", String(budget)]).count >= 2)

        func replay(_ extra: [String]) throws -> [String] {
            // the kernel engine: the one that splits into tail-called stages
            let r = try ProcessRunner.run([flowgen, "replay", "-q", "--engine", "kernel"] + common + extra + files, timeout: .seconds(120))
            #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
            // FLOW_ID numbers export order; everything else must match
            return r.stdout.split(separator: "\n").map { line in
                String(line).replacingOccurrences(of: #""FLOW_ID":\d+,"#, with: "", options: .regularExpression)
            }.sorted()
        }
        let one = try replay(["--max-stages", "1"])
        let split = try replay(["--stage-budget", String(budget)])
        #expect(one.count > 10)
        #expect(one == split)
        #expect(one.contains { $0.contains("\"PAYLOAD_SUM_IN\":") && !$0.contains("\"PAYLOAD_SUM_IN\":0,") })
    }
}
