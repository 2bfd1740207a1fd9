import Foundation
import Testing
@testable import FlowgenCore

/// A fresh temporary directory name for a test's module folders; the test removes it (`defer`).
func temporaryModuleRoot() -> String {
    NSTemporaryDirectory() + "fgtest-\(UUID().uuidString)"
}

/// Writes a module folder under `root` (see `temporaryModuleRoot`) and returns the spec path.
func writeModule(_ name: String, yaml: String, files: [String: String] = [:], root: String) throws -> String {
    let dir = root + "/" + name
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try yaml.write(toFile: dir + "/feature.yaml", atomically: true, encoding: .utf8)
    for (file, text) in files { try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8) }
    return dir + "/feature.yaml"
}

func expectMalformed(_ yaml: String, line: Int, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let root = temporaryModuleRoot()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = try writeModule("m", yaml: yaml, root: root)
    do {
        _ = try FeatureLoader.load(specPath: path)
        Issue.record("expected an error for:\n\(yaml)", sourceLocation: sourceLocation)
    } catch let FeatureError.malformed(file, l, message) {
        #expect(file == path, sourceLocation: sourceLocation)
        #expect(l == line, "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains(text), "\(message)", sourceLocation: sourceLocation)
    }
}

@Suite struct FeatureLoaderTests {
    @Test func builtInModulesLoad() throws {
        let resources = try ResourceLocator.locate()
        let modules = try FeatureLoader(searchPaths: [resources.features]).loadAll()
        let names = modules.map(\.name)
        for expected in ["base", "ipv4", "ipv6", "tcp", "icmp"] { #expect(names.contains(expected)) }
        let base = try #require(modules.first { $0.name == "base" })
        #expect(base.always)
        #expect(base.fields.map(\.name) == ["packets", "bytes", "first_seen", "last_seen"])
        #expect(base.fields[0].json.forward == ["IN_PKTS"])
        #expect(base.fields[1].ipfix?.id == 1)
    }

    @Test func parsesAFullModule() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try writeModule("syn", yaml: """
        name: syn
        summary: SYN counter
        requires: [tcp]
        applies_to: [tcp]
        fields:
          - name: syn_packets
            type: u32
            aggregation: sum
            json: { forward: SYN_IN, reverse: SYN_OUT }
          - name: size_hist
            type: u64
            aggregation: histogram
            bins: 3
            value: "pkt->ip_bytes < 100 ? 0 : 1"
            json: { combined: [A, B, C] }
        update: update.bpf.c
        """, files: ["update.bpf.c": "if (pkt->tcp_flags & 0x02)\n\tFG_SET(syn_packets, 1);\n"], root: root)
        let m = try FeatureLoader.load(specPath: path)
        #expect(m.name == "syn")
        #expect(m.requires == ["tcp"])
        #expect(m.appliesTo == [.tcp])
        #expect(m.fields[1].aggregation == .histogram(bins: 3))
        #expect(m.fields[1].count == 3)
        #expect(m.fields[1].json.combined == ["A", "B", "C"])
        #expect(m.update?.text.contains("FG_SET(syn_packets, 1)") == true)
        #expect(m.update?.file.hasSuffix("syn/update.bpf.c") == true)
    }

    @Test func errorsNameTheLine() throws {
        try expectMalformed("name: m\nfields:\n  - name: x\n    type: u8\n    aggregation: sum\n    value: 1\n", line: 4, containing: "needs type u32 or u64")
        try expectMalformed("name: m\nbogus: 1\n", line: 2, containing: "unknown feature key 'bogus'")
        try expectMalformed("name: m\nfields:\n  - name: x\n    type: u128\n    aggregation: sum\n", line: 4, containing: "unknown type 'u128'")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: median\n    value: 1\n", line: 4, containing: "unknown aggregation 'median'")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: histogram\n    value: 1\n", line: 4, containing: "bins")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: sum\n    export: false\n", line: 3, containing: "no `value:`")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: sum\n    value: 1; 2\n", line: 5, containing: "single C expression")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: sum\n    value: 1\n    json: { forward: [A, B] }\n", line: 6, containing: "needs 1 name")
        try expectMalformed("name: other\n", line: 1, containing: "must match its folder")
        try expectMalformed("name: m\nfields: [\n", line: 3, containing: "not valid YAML")
        try expectMalformed("name: m\nupdate: missing.c\n", line: 2, containing: "not found")
        try expectMalformed("name: m\napplies_to: [sctp]\n", line: 2, containing: "unknown packet class")
    }

    @Test func duplicateModulesAreRefused() throws {
        let a = temporaryModuleRoot(), b = temporaryModuleRoot()
        defer { for root in [a, b] { try? FileManager.default.removeItem(atPath: root) } }
        _ = try writeModule("dup", yaml: "name: dup\n", root: a)
        _ = try writeModule("dup", yaml: "name: dup\n", root: b)
        #expect(throws: FeatureError.self) { try FeatureLoader(searchPaths: [a, b]).loadAll() }
        #expect(throws: FeatureError.badFeaturePath("/nonexistent/flowgen")) {
            try FeatureLoader(searchPaths: ["/nonexistent/flowgen"]).loadAll()
        }
    }
}

@Suite struct FeatureSelectionTests {
    func builtIns() throws -> [FeatureModule] {
        try FeatureLoader(searchPaths: [ResourceLocator.locate().features]).loadAll()
    }

    @Test func defaultsAndExclusions() throws {
        let all = try builtIns()
        #expect(try FeatureSelection("", available: all).names == ["base", "ipv4", "ipv6"])
        #expect(try FeatureSelection("tcp,icmp,-ipv6", available: all).names == ["base", "icmp", "ipv4", "tcp"])
        #expect(try FeatureSelection("-base", available: all).names.contains("base"))
        #expect(throws: FeatureError.self) { try FeatureSelection("tcp,nosuch", available: all) }
    }

    /// `all` leaves out a module marked `in_all: false` (tunnel changes what a flow is), which
    /// still comes when named; the key is read from feature.yaml.
    @Test func allLeavesOutModulesMarkedSo() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try writeModule("inner", yaml: "name: inner\nin_all: false\n", root: root)
        let inner = try FeatureLoader.load(specPath: path)
        #expect(!inner.inAll)
        let mods = [FeatureModule(name: "base", always: true), FeatureModule(name: "a"), inner]
        #expect(try FeatureSelection("all", available: mods).names == ["base", "a"])
        #expect(try FeatureSelection("all,inner", available: mods).names == ["base", "a", "inner"])
        let builtIn = try builtIns()
        #expect(try !FeatureSelection("all", available: builtIn).names.contains("tunnel"))
    }

    @Test func requirementsComeFirst() throws {
        let mods = [FeatureModule(name: "base", always: true),
                    FeatureModule(name: "b", requires: ["a"]),
                    FeatureModule(name: "a")]
        #expect(try FeatureSelection("b", available: mods).names == ["base", "a", "b"])
        let broken = [FeatureModule(name: "x", requires: ["y"])]
        #expect(throws: FeatureError.missingDependency(module: "x", requires: "y")) { try FeatureSelection("x", available: broken) }
    }
}
