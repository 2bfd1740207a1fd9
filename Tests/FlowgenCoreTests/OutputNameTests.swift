import Foundation
import Testing
@testable import FlowgenCore

/// A module field named `field` whose output names are `json` (a YAML flow mapping), for modules
/// that only matter for their names.
func namedField(_ field: String, json: String) -> String {
    "  - name: \(field)\n    aggregation: sum\n    value: \"1\"\n    json: \(json)\n"
}

/// Output names (`json:`) are the JSON keys and CSV header of every exported flow: they must be
/// safe to write unescaped, and unique across a plan and the columns the schema writes itself.
@Suite struct OutputNameTests {
    @Test func namesOutsideTheRuleAreRefusedAtTheirLine() throws {
        // each as YAML double-quoted text: a quote, a newline, a backslash, a space, a comma, a
        // leading digit or dot, the empty name, a non-ASCII letter, 65 characters
        let bad = [#""A\"B""#, #""A\nB""#, #""A\\B""#, #""A B""#, #""A,B""#, #""1AB""#, #"".AB""#, #""""#, #""É""#,
                   "\"" + String(repeating: "A", count: 65) + "\""]
        for name in bad {
            try expectMalformed("name: m\nfields:\n" + namedField("x", json: "{ forward: \(name) }"), line: 6, containing: "is not allowed; output names are 1 to 64")
        }
        // the same rule in lists (histogram bins), at the line of the bad entry
        try expectMalformed("name: m\nfields:\n  - name: h\n    aggregation: histogram\n    bins: 2\n    value: \"0\"\n    json:\n      combined:\n        - H0\n        - \"H\\\"1\"\n",
                            line: 10, containing: "json name \"H\\\"1\" is not allowed")
        // and in derived fields
        try expectMalformed("name: m\nfields:\n" + namedField("x", json: "{ forward: X }") + "  - name: d\n    derive: \"x + 1\"\n    json: { combined: \"D\\n\" }\n",
                            line: 9, containing: "is not allowed")
    }

    @Test func namesInsideTheRuleLoad() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let longest = String(repeating: "A", count: 64)
        let path = try writeModule("m", yaml: "name: m\nfields:\n" + namedField("x", json: "{ forward: _x, reverse: a.b-c_9, combined: \(longest) }"), root: root)
        #expect(try FeatureLoader.load(specPath: path).fields[0].json == DirectionalNames(forward: ["_x"], reverse: ["a.b-c_9"], combined: [longest]))
    }

    /// Whatever the schema writes that no module declared is a built-in name, and a module may
    /// take none of them: not alone (the loader refuses it) and not planned (the planner does).
    @Test func builtInColumnNamesAreRefused() throws {
        let resources = try ResourceLocator.locate()
        let plan = try FeatureCatalog(resources: resources).plan(features: "tcp,icmp")
        let declared = Set(plan.features.flatMap { m in m.fields.flatMap { $0.json.forward + $0.json.reverse + $0.json.combined } })
        let own = Set(OutputSchema(plan: plan).columns.map(\.name)).subtracting(declared)
        // the key, the ICMP type, the duration and the end reason, under their nProbe names
        #expect(own == ["FLOW_ID", "IPV4_SRC_ADDR", "IPV4_DST_ADDR", "IPV6_SRC_ADDR", "IPV6_DST_ADDR", "L4_SRC_PORT", "L4_DST_PORT",
                        "PROTOCOL", "IP_PROTOCOL_VERSION", "ICMP_TYPE", "FLOW_DURATION_MICROSECONDS", "FLOW_END_REASON"])
        #expect(own.isSubset(of: OutputSchema.builtInNames))

        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (i, name) in OutputSchema.builtInNames.enumerated() {
            let path = try writeModule("m\(i)", yaml: "name: m\(i)\nfields:\n" + namedField("x", json: "{ reverse: \(name) }"), root: root)
            #expect(throws: FeatureError.outputNameClash(name: name, first: "a built-in output column", second: "field 'x' of feature 'm\(i)' (\(path):3)")) {
                try FeatureLoader.load(specPath: path)
            }
            // a module made in code gets the same answer from the planner
            let m = FeatureModule(name: "code", fields: [FieldSpec(name: "x", type: .u64, aggregation: .sum, value: "1",
                                                                   json: DirectionalNames(combined: [name]), location: "code.yaml:9")])
            #expect(throws: FeatureError.outputNameClash(name: name, first: "a built-in output column", second: "field 'x' of feature 'code' (code.yaml:9)")) {
                try Planner().plan(FeatureSelection(modules: [m]))
            }
        }
        // a derived field too
        let path = try writeModule("d", yaml: "name: d\nfields:\n" + namedField("x", json: "{ forward: X }")
                                   + "  - name: late\n    derive: \"x\"\n    json: { combined: FLOW_END_REASON }\n", root: root)
        #expect(throws: FeatureError.outputNameClash(name: "FLOW_END_REASON", first: "a built-in output column", second: "field 'late' of feature 'd' (\(path):7)")) {
            try FeatureLoader.load(specPath: path)
        }
    }

    /// The reported bug: a module naming a field IN_PKTS made json.loads read 4000 packets for
    /// base's 1000, as the later of two equal keys wins.
    @Test func aModuleTakingBasesNameIsRefusedNamingBoth() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try writeModule("dup", yaml: "name: dup\nfields:\n" + namedField("n", json: "{ forward: IN_PKTS }"), root: root)
        #expect(try FeatureLoader.load(specPath: path).name == "dup", "alone, the module is fine")
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root])
        do {
            _ = try catalog.plan(features: "dup")
            Issue.record("a plan with base and dup was accepted")
        } catch let FeatureError.outputNameClash(name, first, second) {
            #expect(name == "IN_PKTS")
            // base/feature.yaml declares packets in the mapping that starts on its line 6
            #expect(first.hasPrefix("field 'packets' of feature 'base' (") && first.hasSuffix("/base/feature.yaml:6)"), "\(first)")
            #expect(second == "field 'n' of feature 'dup' (\(path):3)")
            let message = "\(FeatureError.outputNameClash(name: name, first: first, second: second))"
            #expect(message.contains("base/feature.yaml:6") && message.contains("\(path):3"))
        }
    }

    @Test func twoModulesWithTheSameNameAreRefused() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let a = try writeModule("a", yaml: "name: a\nfields:\n" + namedField("x", json: "{ forward: SAME }"), root: root)
        let b = try writeModule("b", yaml: "name: b\nfields:\n" + namedField("y", json: "{ forward: OTHER }")
                                + "  - name: z\n    derive: \"y\"\n    json: { combined: SAME }\n", root: root)
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root])
        #expect(throws: Never.self) { try catalog.plan(features: "a") }
        #expect(throws: Never.self) { try catalog.plan(features: "b") }
        #expect(throws: FeatureError.outputNameClash(name: "SAME", first: "field 'x' of feature 'a' (\(a):3)", second: "field 'z' of feature 'b' (\(b):7)")) {
            try catalog.plan(features: "a,b")
        }
        // and one module naming two outputs alike is refused on its own
        let c = try writeModule("c", yaml: "name: c\nfields:\n" + namedField("x", json: "{ forward: TWICE, reverse: TWICE }"), root: root)
        #expect(throws: FeatureError.outputNameClash(name: "TWICE", first: "field 'x' of feature 'c' (\(c):3)", second: "field 'x' of feature 'c' (\(c):3)")) {
            try FeatureLoader.load(specPath: c)
        }
    }
}
