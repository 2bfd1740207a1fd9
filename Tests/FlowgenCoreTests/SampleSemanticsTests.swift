import Foundation
import Testing
@testable import FlowgenCore

/// The "no sample" state and the time order of first/last (docs/modules.md, semantics table),
/// on hand-made records: what JSON, CSV, IPFIX and ClickHouse show for each case.
@Suite struct SampleSemanticsTests {
    /// A TCP-only module with one field per aggregation, every one exported, plus a module that
    /// applies to every packet: its `value:` min is always sampled and needs no bit.
    static let yaml = """
    name: fm_tcpmod
    applies_to: [tcp]
    fields:
      - name: fm_count
        type: u32
        aggregation: sum
        value: 1
        json: { forward: FM_COUNT_IN, reverse: FM_COUNT_OUT, combined: FM_COUNT }
      - name: fm_low
        type: u32
        aggregation: min
        value: pkt->tcp_seq
        json: { forward: FM_LOW_IN, reverse: FM_LOW_OUT, combined: FM_LOW }
      - name: fm_high
        type: u16
        aggregation: max
        value: pkt->tcp_window
        json: { forward: FM_HIGH_IN, reverse: FM_HIGH_OUT, combined: FM_HIGH }
        ipfix: { id: 1, enterprise: 9999, name: fmHigh }
      - name: fm_first
        type: u8
        aggregation: first
        value: pkt->tos
        json: { forward: FM_FIRST_IN, reverse: FM_FIRST_OUT, combined: FM_FIRST }
      - name: fm_last
        type: u8
        aggregation: last
        value: pkt->tos
        json: { forward: FM_LAST_IN, reverse: FM_LAST_OUT, combined: FM_LAST }
      - name: fm_state
        export: false
        type: u32
        aggregation: min
        value: pkt->ttl
    """

    let plan: Plan
    let decoder: RecordDecoder

    init() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("fm_tcpmod", yaml: Self.yaml, root: root)
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root], allowUnsafe: true)
        plan = try catalog.plan(features: "fm_tcpmod")
        decoder = RecordDecoder(plan: plan)
    }

    func record(_ key: FlowKey, _ fields: [String: UInt64], sampled: [String]) -> FlowRecord {
        var values = [UInt64](repeating: 0, count: decoder.columns.count)
        for (k, v) in fields { values[decoder.firstColumn[k]!] = v }
        return FlowRecord(key: key, values: values).sampled(sampled, plan: plan)
    }

    func json(_ flow: Biflow) throws -> [String: Any] {
        let text = FlowFormatter(schema: OutputSchema(plan: plan), format: .json).format([flow], epochOffsetNs: 0)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func csv(_ flow: Biflow) -> [String: String] {
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .csv)
        let header = formatter.header().dropLast().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let row = formatter.format([flow], epochOffsetNs: 0).dropLast().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return Dictionary(uniqueKeysWithValues: zip(header, row))
    }

    static let moduleFields = ["FM_COUNT_IN", "FM_COUNT_OUT", "FM_COUNT", "FM_LOW_IN", "FM_LOW_OUT", "FM_LOW", "FM_HIGH_IN",
                               "FM_HIGH_OUT", "FM_HIGH", "FM_FIRST_IN", "FM_FIRST_OUT", "FM_FIRST", "FM_LAST_IN", "FM_LAST_OUT", "FM_LAST"]

    @Test func bitsGoToTheFieldsThatCanLackASample() {
        let s = FieldSampling(modules: plan.features)
        // min/max/first/last of a module with applies_to: a bit each; its sum: the module's bit;
        // state (no output names): none; base's first_seen (every packet, value:) needs none
        #expect(Set(s.fieldBits.keys) == ["fm_low", "fm_high", "fm_first", "fm_last"])
        #expect(s.sharedBits["fm_count"] == s.moduleBits["fm_tcpmod"] && s.moduleBits["fm_tcpmod"] != nil)
        #expect(s.bit(of: "fm_state") == nil && s.bit(of: "first_seen") == nil && s.bit(of: "packets") == nil)
        #expect(Set(s.timeFields.keys) == ["fm_first", "fm_last"])
        #expect(s.words == 1)
        // the hidden members come after every module field, so no module field moves
        let hidden = plan.layout.slots.filter { $0.feature == FieldSampling.owner }.map(\.field.name)
        #expect(hidden == ["fg__seen", "fg__t_fm_first", "fg__t_fm_last"])
        let lastModule = plan.layout.slots.filter { $0.feature != FieldSampling.owner }.map { $0.offset + $0.field.byteSize }.max()!
        #expect(plan.layout.slots.first { $0.field.name == "fg__seen" }!.offset == (lastModule + 7) / 8 * 8)
    }

    @Test func aModuleThatDoesNotApplyIsLeftOutOfJSONEmptyInCSVZeroInIPFIX() throws {
        let udp = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 5, dport: 6, proto: 17, ipVersion: 4)
        let back = FlowKey(src: ipv4("198.18.0.2"), dst: ipv4("198.18.0.1"), sport: 6, dport: 5, proto: 17, ipVersion: 4)
        // the kernel's initial values: min at the type's largest, the rest 0; no bit set
        let flow = Biflow(id: 1, forward: record(udp, ["packets": 1, "fm_low": 0xffff_ffff], sampled: []),
                          reverse: record(back, ["packets": 1, "fm_low": 0xffff_ffff], sampled: []), endReason: .idleTimeout)
        let obj = try json(flow)
        for name in Self.moduleFields { #expect(obj[name] == nil, "\(name) = \(obj[name] ?? "")") }
        #expect(obj["IN_PKTS"] as? Int == 1)
        let row = csv(flow)
        for name in Self.moduleFields { #expect(row[name] == "", "\(name) = \(row[name] ?? "missing")") }
        // IPFIX: the fixed template carries the element, as 0 (docs/ipfix.md)
        let schema = try IPFIXTemplateBuilder(plan: plan).build()
        let template = schema.template(for: flow)
        let bytes = template.record(for: flow, epochOffsetNs: 0).bytes
        var at = 0
        var found = false
        for field in template.fields {
            if field.jsonName == "FM_HIGH_IN" {
                found = true
                #expect(bytes[at..<(at + Int(field.specifier.length))].allSatisfy { $0 == 0 })
            }
            at += Int(field.specifier.length)
        }
        #expect(found)
    }

    @Test func aTCPFlowShowsItsValuesAndRealZeros() throws {
        let c = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 5, dport: 6, proto: 6, ipVersion: 4)
        let s = FlowKey(src: ipv4("198.18.0.2"), dst: ipv4("198.18.0.1"), sport: 6, dport: 5, proto: 6, ipVersion: 4)
        // forward: a max of 0 and a min of the u32 maximum are real samples; its first/last set at t=10/20
        let fwd = record(c, ["fm_count": 0, "fm_low": 0xffff_ffff, "fm_high": 0, "fm_first": 48, "fg__t_fm_first": 10,
                             "fm_last": 24, "fg__t_fm_last": 20],
                         sampled: ["fm_count", "fm_low", "fm_high", "fm_first", "fm_last"])
        // reverse: only counts (the module applied), no min/max/first/last sample
        let rev = record(s, ["fm_count": 3, "fm_low": 0xffff_ffff], sampled: ["fm_count"])
        let obj = try json(Biflow(id: 1, forward: fwd, reverse: rev, endReason: .forced))
        #expect(obj["FM_COUNT_IN"] as? Int == 0 && obj["FM_COUNT_OUT"] as? Int == 3 && obj["FM_COUNT"] as? Int == 3)
        #expect(obj["FM_LOW_IN"] as? Int == 0xffff_ffff && obj["FM_LOW_OUT"] == nil && obj["FM_LOW"] as? Int == 0xffff_ffff)
        #expect(obj["FM_HIGH_IN"] as? Int == 0 && obj["FM_HIGH_OUT"] == nil && obj["FM_HIGH"] as? Int == 0)
        #expect(obj["FM_FIRST"] as? Int == 48 && obj["FM_LAST"] as? Int == 24 && obj["FM_LAST_OUT"] == nil)
        // a one-way TCP flow: the reverse counts are 0 (the module applies to the flow), the rest absent
        let oneWay = try json(Biflow(id: 2, forward: fwd, reverse: nil, endReason: .forced))
        #expect(oneWay["FM_COUNT_OUT"] as? Int == 0 && oneWay["FM_HIGH_OUT"] == nil && oneWay["FM_FIRST_OUT"] == nil)
    }

    @Test func combinedFirstAndLastFollowPacketTimeAndATieGoesToTheInitiator() throws {
        let c = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 5, dport: 6, proto: 6, ipVersion: 4)
        let s = FlowKey(src: ipv4("198.18.0.2"), dst: ipv4("198.18.0.1"), sport: 6, dport: 5, proto: 6, ipVersion: 4)
        let all = ["fm_first", "fm_last"]
        func flow(_ ft: UInt64, _ lt: UInt64, _ rft: UInt64, _ rlt: UInt64) -> Biflow {
            // initiator: DSCP-like values 48 first, 24 last; responder 46 first, 26 last: min/max
            // would give 46 and 26 whatever the times
            Biflow(id: 1, forward: record(c, ["fm_first": 48, "fg__t_fm_first": ft, "fm_last": 24, "fg__t_fm_last": lt], sampled: all),
                   reverse: record(s, ["fm_first": 46, "fg__t_fm_first": rft, "fm_last": 26, "fg__t_fm_last": rlt], sampled: all),
                   endReason: .forced)
        }
        let ordered = try json(flow(100, 900, 200, 800))
        #expect(ordered["FM_FIRST"] as? Int == 48 && ordered["FM_LAST"] as? Int == 24)
        let responderOutside = try json(flow(200, 800, 100, 900))
        #expect(responderOutside["FM_FIRST"] as? Int == 46 && responderOutside["FM_LAST"] as? Int == 26)
        let tie = try json(flow(100, 900, 100, 900))
        #expect(tie["FM_FIRST"] as? Int == 48 && tie["FM_LAST"] as? Int == 24)
    }

    @Test func clickHouseMakesFieldsThatCanLackASampleNullable() throws {
        let schema = try ClickHouseSchema(plan: plan, dialect: .legacy)
        let types = Dictionary(uniqueKeysWithValues: schema.columns.map { ($0.name, $0.type) })
        for name in Self.moduleFields { #expect(types[name]?.hasPrefix("Nullable(") == true, "\(name): \(types[name] ?? "missing")") }
        #expect(types["IN_PKTS"]?.hasPrefix("Nullable(") == false)
    }

    @Test func reservedNamesAreRefused() throws {
        try expectMalformed("name: m\nfields:\n  - name: fg__seen\n    type: u64\n    aggregation: sum\n", line: 3, containing: "reserved")
    }

    @Test func generatedUpdatesExchangeMinMaxAndSetBits() throws {
        let header = CodeGenerator(resources: try ResourceLocator.locate()).planHeader(plan)
        let s = FieldSampling(modules: plan.features)
        let high = plan.slot("fm_high")!
        // a u16 max: the aligned word is exchanged, at the field's offset; then its bit
        let bit = s.fieldBits["fm_high"]!
        #expect(header.contains("#define FG_AGG_fm_high(r, v) do { fg_agg_minmax_sub((r), \(high.offset), 2, (v), 1); fg_mark((r), \(bit.word), 0x\(String(bit.mask, radix: 16))ULL); } while (0)"), "\(header)")
        #expect(header.contains("#define FG_AGG_fm_low(r, v) do { fg_agg_min(&(r)->fm_low, (v));"))
        // first: stored by the packet that claims the bit, with its time
        #expect(header.contains("if (fg_claim_first((r), 0, ") && header.contains("(r)->fg__t_fm_first = fg_now_precise(pkt);"))
        #expect(header.contains("__u64 fg__seen[1];"))
    }
}

/// `VerifierSource`: a verifier log's quoted source line names the module, even though every
/// module's body is called update.bpf.c.
@Suite struct VerifierSourceTests {
    @Test func theQuotedLineNamesTheModuleWhoseFileHoldsIt() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, body) in [("fm_one", "/* one */\nFG_SET(fm_one_x, 1);\n"), ("fm_two", "/* two */\n__u8 *p = FG_PTR(skb, 0, 1);\nFG_SET(fm_two_x, p[100]);\n")] {
            _ = try writeModule(name, yaml: "name: \(name)\nfields:\n  - name: \(name)_x\n    type: u32\n    aggregation: sum\n    export: false\nupdate: update.bpf.c\n",
                                files: ["update.bpf.c": body], root: root)
        }
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root], allowUnsafe: true)
        let plan = try catalog.plan(features: "fm_one,fm_two")
        let log = """
        ; FG_SET(fm_one_x, 1); @ update.bpf.c:2
        12: (b7) r1 = 1
        ; __u8 *p = FG_PTR(skb, 0, 1); @ update.bpf.c:2
        459: (61) r1 = *(u32 *)(r6 +76)       ; R1=pkt(r=0) R6=ctx()
        ; FG_SET(fm_two_x, p[100]); @ update.bpf.c:3
        460: (71) r1 = *(u8 *)(r1 +100)
        invalid access to packet, off=100 size=1, R1(id=0,off=100,r=0)
        R1 offset is outside of the packet
        processed 243 insns (limit 1000000) max_states_per_insn 0 total_states 21 peak_states 21 mark_read 0
        """
        let found = try #require(VerifierSource.locate(log: log, plan: plan))
        #expect(found == VerifierSource.Location(module: "fm_two", file: "fm_two/update.bpf.c", line: 3, text: "FG_SET(fm_two_x, p[100]);"))
        // a log that quotes only flowgen's own code names no module
        #expect(VerifierSource.locate(log: "; return TC_ACT_UNSPEC; @ flowgen.bpf.c:120\nR0 !read_ok\n", plan: plan) == nil)
    }

    @Test func aBrokenModuleFailsOnlyTheSelectionsThatNameIt() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("fm_broken", yaml: "name: fm_broken\nfields:\n  - name: x\n    type: u9\n    aggregation: sum\n", root: root)
        _ = try writeModule("fm_needs", yaml: "name: fm_needs\nrequires: [fm_broken]\n", root: root)
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root], allowUnsafe: true)
        #expect(catalog.broken.map(\.name) == ["fm_broken"])
        #expect("\(catalog.broken[0].error)".contains("unknown type 'u9'"))
        _ = try catalog.plan(features: "tcp,icmp")
        // `all` selects fm_needs, which requires the broken module
        for selection in ["tcp,fm_broken", "fm_needs", "all"] {
            #expect { try catalog.plan(features: selection) } throws: { "\($0)".contains("fm_broken/feature.yaml:4") && "\($0)".contains("u9") }
        }
    }
}
