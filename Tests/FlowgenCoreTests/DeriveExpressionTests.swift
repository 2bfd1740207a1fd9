import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// `derive:` fields: the expression language, loading, checking against the selection, and
/// evaluation per direction in the output schema.
@Suite struct DeriveExpressionTests {
    func eval(_ text: String, own: [String: UInt64], peer: [String: UInt64]? = nil) throws -> UInt64? {
        let names = Array(Set(own.keys).union(peer?.keys ?? [:].keys)).sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let resolved = try #require(DeriveExpression.parse(text).resolved { index[$0] })
        let ownValues = names.map { own[$0] ?? 0 }
        let peerValues = peer.map { p in names.map { p[$0] ?? 0 } }
        return resolved.evaluate(own: ownValues, peer: peerValues)
    }

    @Test func arithmeticFollowsCPrecedence() throws {
        #expect(try eval("1 + 2 * 3", own: [:]) == 7)
        #expect(try eval("(1 + 2) * 3", own: [:]) == 9)
        #expect(try eval("1 << 2 + 1", own: [:]) == 8)             // + binds tighter than <<
        #expect(try eval("6 & 3 == 3", own: [:]) == 0)             // == binds tighter than &: 6 & 1
        #expect(try eval("a & 2 && b & 2", own: ["a": 3, "b": 2]) == 1)
        #expect(try eval("a & 2 && b & 2", own: ["a": 3, "b": 1]) == 0)
        #expect(try eval("0x10 | 1", own: [:]) == 17)
        #expect(try eval("7 % 4 - 1", own: [:]) == 2)
        #expect(try eval("!0 + !5 + ~0", own: [:]) == 0)           // 1 + 0 + 0xffff...ffff wraps to 0
        #expect(try eval("1 << 64", own: [:]) == 0)
        #expect(try eval("a >= 3 ? a - 3 : 99", own: ["a": 5]) == 2)
        #expect(try eval("a >= 3 ? a - 3 : 99", own: ["a": 1]) == 99)
        #expect(try eval("a ? 1 : b ? 2 : 3", own: ["a": 0, "b": 1]) == 2)  // right-associative
        #expect(try eval("a<=b", own: ["a": 1, "b": 1]) == 1)
        #expect(try eval("a<b", own: ["a": 1, "b": 1]) == 0)
        #expect(try eval("a||b", own: ["a": 0, "b": 4]) == 1)
    }

    @Test func absentPropagatesAndMinMaxSkipIt() throws {
        #expect(try eval("absent + 1", own: [:]) == nil)
        #expect(try eval("5 / 0", own: [:]) == nil)
        #expect(try eval("min(absent, 7, 3)", own: [:]) == 3)
        #expect(try eval("max(absent, absent)", own: [:]) == nil)
        #expect(try eval("absent ? 1 : 2", own: [:]) == 2)          // absent is false
        #expect(try eval("!absent", own: [:]) == 1)
        #expect(try eval("a ? 4 : absent", own: ["a": 0]) == nil)
    }

    @Test func peerReadsTheOtherDirectionAndIsAbsentForOneWayFlows() throws {
        #expect(try eval("a + peer.a", own: ["a": 1], peer: ["a": 10]) == 11)
        #expect(try eval("a + peer.a", own: ["a": 1], peer: nil) == nil)
        #expect(try eval("peer.a & 2 && a & 2 ? 1 : 0", own: ["a": 2], peer: nil) == 0)
        #expect(try DeriveExpression.parse("x + peer.y * 2").fieldNames == ["x", "y"])
    }

    @Test func syntaxErrorsSayWhere() throws {
        for (text, message) in [("1 +", "ends early"), ("(1", "expected ')'"), ("a ? 1", "expected ':'"),
                                ("min 1", "expected '('"), ("peer", "expected '.'"), ("1 $ 2", "unexpected '$'"),
                                ("12ab", "is not a number")] {
            #expect(throws: DeriveSyntaxError.self, "\(text)") { try DeriveExpression.parse(text) }
            do { _ = try DeriveExpression.parse(text) } catch let e as DeriveSyntaxError {
                #expect(e.description.contains(message), "\(text): \(e)")
            }
        }
    }

    @Test func derivedFieldsLoadCheckAndExport() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("win", yaml: """
        name: win
        fields:
          - name: raw
            type: u16
            aggregation: max
            value: pkt->tcp_window
            export: false
          - name: shift
            type: u8
            aggregation: last
            value: "0"
            export: false
          - name: scaled
            derive: "peer.shift ? raw << shift : raw"
            aggregation: max
            unit: octets
            json: { forward: WIN_IN, reverse: WIN_OUT, combined: WIN }
        """, root: root)
        let resources = try ResourceLocator.locate()
        let modules = try FeatureLoader(searchPaths: [resources.features, root]).loadAll()
        let win = try #require(modules.first { $0.name == "win" })
        #expect(win.fields.map(\.name) == ["raw", "shift"])           // derived fields take no record room
        #expect(win.derived.map(\.name) == ["scaled"])
        #expect(win.derived[0].unit == .octets)
        let plan = try Planner().plan(FeatureSelection("win", available: modules))
        #expect(plan.slot("scaled") == nil)
        #expect(FeatureListing(modules: [win]).text(withFields: true).contains("scaled: derived at export (max) -> WIN_IN, WIN_OUT, WIN"))

        let decoder = RecordDecoder(plan: plan)
        func record(_ sport: UInt16, raw: UInt64, shift: UInt64) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            values[decoder.firstColumn["raw"]!] = raw
            values[decoder.firstColumn["shift"]!] = shift
            values[decoder.firstColumn["first_seen"]!] = UInt64(sport)
            let key = FlowKey(src: IPAddress16(ipv4: [198, 18, 0, sport == 1 ? 1 : 2]), dst: IPAddress16(ipv4: [198, 18, 0, sport == 1 ? 2 : 1]),
                              sport: sport, dport: sport == 1 ? 2 : 1, proto: 6, ipVersion: 4)
            return FlowRecord(key: key, values: values)
        }
        let schema = OutputSchema(plan: plan)
        func out(_ flow: Biflow) -> [String: OutputSchema.Value] {
            Dictionary(uniqueKeysWithValues: zip(schema.columns.map(\.name), schema.values(of: flow, epochOffsetNs: 0)))
        }
        let both = out(Biflow(id: 1, forward: record(1, raw: 100, shift: 2), reverse: record(2, raw: 10, shift: 3), endReason: .forced))
        #expect(both["WIN_IN"] == .number(400))   // 100 << 2: the peer had a shift
        #expect(both["WIN_OUT"] == .number(80))   // 10 << 3
        #expect(both["WIN"] == .number(400))
        let oneWay = out(Biflow(id: 2, forward: record(1, raw: 100, shift: 2), reverse: nil, endReason: .forced))
        #expect(oneWay["WIN_IN"] == .number(100)) // no peer: peer.shift is absent, so false
        #expect(oneWay["WIN_OUT"] == .absent)
        #expect(oneWay["WIN"] == .number(100))
        let doc = PlanDocument(plan: plan).json()
        #expect(doc.contains("\"derive\" : \"peer.shift ? raw << shift : raw\""))
    }

    @Test func derivedFieldErrorsNameTheFileAndLine() throws {
        try expectMalformed("name: m\nfields:\n  - name: d\n    derive: \"1 +\"\n", line: 4, containing: "derive: expression ends early")
        try expectMalformed("name: m\nfields:\n  - name: d\n    derive: \"1\"\n    value: x\n", line: 5, containing: "unknown derived field")
        try expectMalformed("name: m\nfields:\n  - name: d\n    derive: \"1\"\n    aggregation: histogram\n", line: 5, containing: "combines directions")
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = try writeModule("bad", yaml: "name: bad\nfields:\n  - name: d\n    derive: \"packets + nosuch\"\n", root: root)
        _ = try writeModule("clash", yaml: "name: clash\nfields:\n  - name: packets\n    derive: \"1\"\n", root: root)
        let modules = try FeatureLoader(searchPaths: [ResourceLocator.locate().features, root]).loadAll()
        #expect(throws: FeatureError.malformed(file: spec, line: 3, message:
            "field 'd': derive names 'nosuch', which no selected module stores (add the module that declares it to `requires:`)")) {
            try FeatureSelection("bad", available: modules)
        }
        #expect(throws: FeatureError.fieldClash(field: "packets", first: "base", second: "clash")) {
            try FeatureSelection("clash", available: modules)
        }
    }

    /// The compiled form the exporters run agrees with `evaluate` on random expressions over every
    /// operator, absent values, missing columns and one-way flows.
    @Test func compiledExpressionsEvaluateLikeTheTree() {
        var rng = SplitMix64(state: 2024)
        let binary = ["||", "&&", "|", "^", "&", "==", "!=", "<", "<=", ">", ">=", "<<", ">>", "+", "-", "*", "/", "%", "??"]
        func leaf() -> DeriveExpression {
            switch rng.next() % 6 {
            case 0: return .absent
            case 1: return .number([0, 1, 2, 63, 64, 65, .max][Int(rng.next() % 7)])
            case 2: return .field("unresolved", peer: false)
            default: return .column(Int(rng.next() % 5), peer: rng.next() % 2 == 0)   // column 4 does not exist
            }
        }
        func tree(_ depth: Int) -> DeriveExpression {
            guard depth > 0, rng.next() % 5 != 0 else { return leaf() }
            switch rng.next() % 5 {
            case 0: return .unary(rng.next() % 2 == 0 ? "!" : "~", tree(depth - 1))
            case 1: return .conditional(tree(depth - 1), tree(depth - 1), tree(depth - 1))
            case 2: return .call(rng.next() % 2 == 0 ? "min" : "max", (0..<(1 + Int(rng.next() % 3))).map { _ in tree(depth - 1) })
            default: return .binary(binary[Int(rng.next() % UInt64(binary.count))], tree(depth - 1), tree(depth - 1))
            }
        }
        for _ in 0..<3000 {
            let expression = tree(4)
            let compiled = CompiledDerive(expression)
            let own: [UInt64] = (0..<4).map { _ in [0, 1, 3, 64, .max, rng.next()][Int(rng.next() % 6)] }
            let peer: [UInt64]? = rng.next() % 3 == 0 ? nil : (0..<4).map { _ in [0, 2, 63, rng.next()][Int(rng.next() % 4)] }
            let expected = expression.evaluate(own: own, peer: peer)
            let got = own.withUnsafeBufferPointer { o in
                guard let peer else { return compiled.evaluate(own: o, peer: nil) }
                return peer.withUnsafeBufferPointer { compiled.evaluate(own: o, peer: $0) }
            }
            #expect(got == expected, "\(expression) over \(own) / \(String(describing: peer))")
        }
    }
}
