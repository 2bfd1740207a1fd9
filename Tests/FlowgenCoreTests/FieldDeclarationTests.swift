import Foundation
import Testing
@testable import FlowgenCore

/// A field's declaration in feature.yaml: whether it is exported is said (`json:` or
/// `export: false`), never inferred; `initial:` is a number of the field's type, read as `none:` is.
@Suite struct FieldDeclarationTests {
    @Test func everyFieldSaysWhetherItIsExported() throws {
        let head = "name: m\nfields:\n  - name: x\n    type: u32\n    aggregation: sum\n    value: \"1\"\n"
        try expectMalformed(head, line: 3, containing: "add `json: { forward: ..., reverse: ..., combined: ... }` (output names) to export it, or `export: false`")
        try expectMalformed(head + "    export: true\n", line: 7, containing: "`export: true` needs `json:`")
        try expectMalformed(head + "    export: false\n    json: { forward: X_IN }\n", line: 7, containing: "contradict")
        try expectMalformed(head + "    export: no way\n", line: 7, containing: "`export` must be true or false")
        try expectMalformed(head + "    export: false\n    ipfix: { id: 1 }\n", line: 8, containing: "would never be sent")
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = try FeatureLoader.load(specPath: writeModule("m", yaml: head + "    export: false\n", root: root))
        #expect(state.fields[0].json == DirectionalNames())
    }

    @Test func initialIsANumberOfTheFieldsType() throws {
        let head = "name: m\nfields:\n  - name: x\n    aggregation: last\n    value: pkt->ttl\n    export: false\n"
        try expectMalformed(head.replacingOccurrences(of: "aggregation", with: "type: u8\n    aggregation") + "    initial: 256\n", line: 8, containing: "`initial` 256 does not fit the field's type u8 (0 to 255)")
        try expectMalformed(head + "    initial: 0xffffffffffffffffULL\n", line: 7, containing: "`initial` must be a number (decimal or 0x hex) of the field's type u64, not C: got \"0xffffffffffffffffULL\"")
        try expectMalformed(head + "    initial: 0x1ffffffffffffffff\n", line: 7, containing: "`initial` must be a number")
        try expectMalformed(head + "    initial: \"-1\"\n", line: 7, containing: "`initial` must be a number")
        try expectMalformed(head + "    initial: (1 << 3)\n", line: 7, containing: "not C")
        try expectMalformed(head.replacingOccurrences(of: "aggregation", with: "type: u16\n    aggregation") + "    none: 0x10000\n", line: 8, containing: "`none` 0x10000 does not fit the field's type u16")
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let m = try FeatureLoader.load(specPath: writeModule("m", yaml: head.replacingOccurrences(of: "aggregation", with: "type: u16\n    aggregation") + "    initial: 0xFFFE\n", root: root))
        #expect(m.fields[0].initial == 65534)
        // the generator writes it as a C constant of the field's type
        let plan = try Planner().plan(FeatureSelection(modules: [m]))
        let init_ = CodeGenerator(resources: try ResourceLocator.locate()).recordInit(plan)
        #expect(init_.contains("rec->x = (0xfffeU);"), "\(init_)")
        #expect(CType.u64.cLiteral(UInt64.max) == "0xffffffffffffffffULL" && CType.u8.cLiteral(7) == "0x7U")
    }
}
