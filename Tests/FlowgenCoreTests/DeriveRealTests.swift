import Foundation
import Testing
@testable import FlowgenCore

/// The real-valued derive functions (`mean`, `stddev`) the nfstream features are computed with:
/// values checked against sums worked out by hand, where a real may stand, and how reals are
/// written (shortest round-trip text, as Python's json writes floats).
@Suite struct DeriveRealTests {
    func eval(_ text: String, own: [String: UInt64], peer: [String: UInt64]? = nil) throws -> UInt64? {
        let names = Array(Set(own.keys).union(peer?.keys ?? [:].keys)).sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let resolved = try #require(DeriveExpression.parse(text).resolved { index[$0] })
        let ownValues = names.map { own[$0] ?? 0 }
        let peerValues = peer.map { p in names.map { p[$0] ?? 0 } }
        let tree = resolved.evaluate(own: ownValues, peer: peerValues)
        // the compiled program the exporters run gives the same bits
        let compiled = CompiledDerive(resolved)
        let fast = ownValues.withUnsafeBufferPointer { o in
            guard let peerValues else { return compiled.evaluate(own: o, peer: nil) }
            return peerValues.withUnsafeBufferPointer { compiled.evaluate(own: o, peer: $0) }
        }
        #expect(fast == tree, "\(text)")
        #expect(compiled.isReal == resolved.isReal)
        return tree
    }

    func real(_ text: String, own: [String: UInt64], peer: [String: UInt64]? = nil) throws -> Double? {
        try eval(text, own: own, peer: peer).map { Double(bitPattern: $0) }
    }

    @Test func meanAndSampleStandardDeviationFromExactSums() throws {
        // sizes 60, 40, 98, 40, 40, 40: sum 318, squares 3600 + 4·1600 + 9604 = 19604;
        // variance (6·19604 − 318²) / (6·5) = 16500 / 30 = 550
        let v: [String: UInt64] = ["s": 318, "q": 19604, "n": 6]
        #expect(try real("mean(s, n)", own: v) == 53.0)
        #expect(try real("stddev(s, q, n)", own: v) == (550.0).squareRoot())
        // two values 1 and 2: sample variance 1/2 (population would be 1/4)
        #expect(try real("stddev(s, q, n)", own: ["s": 3, "q": 5, "n": 2]) == (0.5).squareRoot())
        // 4·10^9 packets of 65,575 bytes: n·q and s² pass 2^64 but are equal in 128 bits
        let big: UInt64 = 4_000_000_000, size: UInt64 = 65_575
        #expect(try real("stddev(s, q, n)", own: ["s": big * size, "q": big * size * size, "n": big]) == 0.0)
        // half 0 and half 2·10^9 (squares 4·10^18 each) over 4 values: mean 10^9, variance 4·10^18/3
        #expect(try real("stddev(s, q, n)", own: ["s": 4_000_000_000, "q": 8_000_000_000_000_000_000, "n": 4])
                == (4e18 / 3).squareRoot())
    }

    @Test func undefinedStatisticsAreAbsentAndAConditionalGivesNfstreamsZero() throws {
        #expect(try eval("mean(s, n)", own: ["s": 5, "n": 0]) == nil)
        #expect(try eval("stddev(s, q, n)", own: ["s": 5, "q": 25, "n": 1]) == nil)
        #expect(try eval("mean(absent, 1)", own: [:]) == nil)
        // the integer branch of a real conditional is written as a real
        #expect(try real("n > 1 ? stddev(s, q, n) : 0", own: ["s": 5, "q": 25, "n": 1]) == 0.0)
        #expect(try real("peer.n ? mean(peer.s, peer.n) : 7", own: ["s": 1, "n": 1], peer: nil) == 7.0)
        #expect(try real("peer.n ? mean(peer.s, peer.n) : 7", own: ["s": 1, "n": 1], peer: ["s": 9, "n": 2]) == 4.5)
        #expect(try real("mean(s + peer.s, n + peer.n)", own: ["s": 1, "n": 1], peer: ["s": 9, "n": 3]) == 2.5)
        #expect(try DeriveExpression.parse("n ? mean(s, n) : 0").isReal)
        #expect(try !DeriveExpression.parse("n ? s : 0").isReal)
    }

    @Test func aRealIsNeverAnOperandAndArityIsChecked() throws {
        for text in ["mean(s, n) + 1", "min(mean(s, n), 2)", "mean(s, n) ? 1 : 2", "!stddev(s, q, n)", "mean(mean(s, n), n)"] {
            #expect(throws: DeriveSyntaxError.self, "\(text)") { try DeriveExpression.parse(text) }
            do { _ = try DeriveExpression.parse(text) } catch let e as DeriveSyntaxError {
                #expect(e.message.contains("is a real number"), "\(text): \(e)")
            }
        }
        do {
            _ = try DeriveExpression.parse("stddev(s, n)")
            Issue.record("stddev with two arguments parsed")
        } catch let e as DeriveSyntaxError {
            #expect(e.message == "stddev(...) takes 3 arguments (sum, sum of squares, count), not 2")
        }
        // without a call, `mean` is still a field name
        #expect(try eval("mean + 1", own: ["mean": 4]) == 5)
    }

    @Test func realFieldsRefuseIPFIXAndCombinedNames() throws {
        try expectMalformed("name: m\nfields:\n  - name: d\n    derive: \"mean(packets, packets)\"\n    ipfix: { id: 1, name: x }\n",
                            line: 5, containing: "has no IPFIX encoding")
        try expectMalformed("name: m\nfields:\n  - name: d\n    derive: \"mean(packets, packets)\"\n    json: { combined: X }\n",
                            line: 5, containing: "cannot be combined over both directions")
    }

    @Test func realsAreWrittenAsShortestRoundTripText() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("avg", yaml: """
        name: avg
        fields:
          - name: avg_size
            derive: "mean(bytes, packets)"
            json: { forward: AVG_IN, reverse: AVG_OUT }
          - name: sd_both
            derive: "packets + peer.packets > 1 ? stddev(bytes + peer.bytes, bytes * bytes + peer.bytes * peer.bytes, packets + peer.packets) : 0"
            json: { forward: SD }
        """, root: root)
        let modules = try FeatureLoader(searchPaths: [ResourceLocator.locate().features, root]).loadAll()
        let plan = try Planner().plan(FeatureSelection("avg", available: modules))
        let decoder = RecordDecoder(plan: plan)
        func record(_ up: Bool, packets: UInt64, bytes: UInt64) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            values[decoder.firstColumn["packets"]!] = packets
            values[decoder.firstColumn["bytes"]!] = bytes
            let a = IPAddress16(ipv4: [198, 18, 0, 1]), b = IPAddress16(ipv4: [198, 18, 0, 2])
            return FlowRecord(key: FlowKey(src: up ? a : b, dst: up ? b : a, sport: up ? 1 : 2, dport: up ? 2 : 1, proto: 17, ipVersion: 4), values: values)
        }
        let schema = OutputSchema(plan: plan)
        // 3 packets of 100 bytes one way, 1 of 68 back: means 100/3 and 68
        let flow = Biflow(id: 1, forward: record(true, packets: 3, bytes: 100), reverse: record(false, packets: 1, bytes: 68), endReason: .forced)
        let values = Dictionary(uniqueKeysWithValues: zip(schema.columns.map(\.name), schema.values(of: flow, epochOffsetNs: 0)))
        #expect(values["AVG_IN"] == .real(100.0 / 3))
        #expect(values["AVG_OUT"] == .real(68.0))
        let json = FlowFormatter(schema: schema, format: .json).format([flow], epochOffsetNs: 0)
        #expect(json.contains("\"AVG_IN\":33.333333333333336,"), "\(json)")   // Python: json.dumps(100/3)
        #expect(json.contains("\"AVG_OUT\":68.0,"), "\(json)")
        let csv = FlowFormatter(schema: schema, format: .csv).format([flow], epochOffsetNs: 0)
        #expect(csv.contains(",33.333333333333336,68.0,"), "\(csv)")
        let oneWay = Biflow(id: 2, forward: record(true, packets: 1, bytes: 40), reverse: nil, endReason: .forced)
        #expect(FlowFormatter(schema: schema, format: .json).format([oneWay], epochOffsetNs: 0).contains("\"AVG_IN\":40.0,\"SD\":0.0,"))
    }
}
