import Foundation
import Testing
@testable import FlowgenCore

@Suite struct PlannerTests {
    @Test func layoutIsAlignedAndPadded() throws {
        let m = FeatureModule(name: "m", fields: [
            FieldSpec(name: "a8", type: .u8, aggregation: .max, value: "1"),
            FieldSpec(name: "b64", type: .u64, aggregation: .sum, value: "1"),
            FieldSpec(name: "c16", type: .u16, aggregation: .min, value: "1"),
            FieldSpec(name: "d32", type: .u32, count: 3, aggregation: .histogram(bins: 3), value: "0"),
        ], always: true)
        let plan = try Planner().plan(FeatureSelection("", available: [m]))
        let offsets = Dictionary(uniqueKeysWithValues: plan.layout.slots.map { ($0.field.name, $0.offset) })
        #expect(offsets == ["b64": 0, "d32": 8, "c16": 20, "a8": 22])
        #expect(plan.layout.size == 24)
        for slot in plan.layout.slots { #expect(slot.offset % slot.field.type.size == 0) }
    }

    @Test func clashingFieldsAreRefused() throws {
        let a = FeatureModule(name: "a", fields: [FieldSpec(name: "x", type: .u64, aggregation: .sum, value: "1")], always: true)
        let b = FeatureModule(name: "b", fields: [FieldSpec(name: "x", type: .u64, aggregation: .sum, value: "1")], always: true)
        #expect(throws: FeatureError.fieldClash(field: "x", first: "a", second: "b")) {
            try Planner().plan(FeatureSelection("", available: [a, b]))
        }
    }

    @Test func builtInPlanHasBaseFirstAndDefines() throws {
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate())
        let plan = try catalog.plan(features: "tcp,icmp")
        #expect(plan.defines.contains("FG_WITH_IPV4"))
        #expect(plan.defines.contains("FG_WITH_ICMP_KEY"))
        #expect(plan.slot("packets")?.offset == 0)
        #expect(plan.slot("tcp_flags") != nil)
        #expect(plan.entryProgram == "flowgen_entry")
        #expect(plan.stages.count == 1)
    }
}

@Suite struct CodeGeneratorTests {
    @Test func generatedHeaderAssertsTheLayout() throws {
        let resources = try ResourceLocator.locate()
        let plan = try FeatureCatalog(resources: resources).plan(features: "tcp")
        let source = try CodeGenerator(resources: resources).generate(plan)
        let header = try #require(source.files[CodeGenerator.planHeader])
        #expect(header.contains("_Static_assert(sizeof(struct fg_record) == \(plan.layout.size)"))
        for slot in plan.layout.slots {
            #expect(header.contains("__builtin_offsetof(struct fg_record, \(slot.field.name)) == \(slot.offset)"))
        }
        #expect(header.contains("#define FG_AGG_tcp_flags(r, v) fg_agg_or(&(r)->tcp_flags, (v))"))
        #expect(source.mainText.contains("int flowgen_entry(struct __sk_buff *skb)"))
        #expect(source.mainText.contains("FG_SET(tcp_flags, pkt->tcp_flags);"))
        #expect(!source.mainText.contains("{{"))
    }

    @Test func updateBodiesCarryLineDirectives() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try writeModule("syn", yaml: """
        name: syn
        applies_to: [ipv4, tcp]
        fields:
          - name: syn_packets
            type: u32
            aggregation: sum
            export: false
        update: update.bpf.c
        """, files: ["update.bpf.c": "if (pkt->tcp_flags & 0x02)\n\tFG_SET(syn_packets, 1);\n"], root: root)
        let module = try FeatureLoader.load(specPath: path)
        let resources = try ResourceLocator.locate()
        let base = try FeatureLoader(searchPaths: [resources.features]).loadAll()
        let plan = try Planner().plan(FeatureSelection("syn", available: base + [module]))
        let main = try CodeGenerator(resources: resources).generate(plan).mainText
        let lines = main.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let idx = try #require(lines.firstIndex { $0.hasPrefix("#line 1 \"") && $0.hasSuffix("syn/update.bpf.c\"") })
        #expect(lines[idx - 3].contains("if (pkt->key.ip_version == 4 && (pkt->l4_proto == IPPROTO_TCP && pkt->l4_off))"))
        // a return or goto in the body becomes an undeclared name, refused at the body's line
        #expect(lines[idx - 2].hasPrefix("#define return ") && lines[idx - 1].hasPrefix("#define goto "))
        #expect(lines[idx + 1] == "if (pkt->tcp_flags & 0x02)")
        // the reset points at the generated file's own next line
        let reset = lines[idx + 3]
        #expect(reset == "#line \(idx + 5) \"flowgen.bpf.c\"")
        #expect(lines[idx + 4] == "#undef return" && lines[idx + 5] == "#undef goto")
    }
}
