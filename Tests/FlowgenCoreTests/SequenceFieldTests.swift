import Foundation
import Testing
@testable import FlowgenCore

/// `sequence:` fields (nfstream's splt_* arrays): the merge of both directions' first packets
/// worked out by hand, the loader's checks, and how the arrays are written (JSON arrays, quoted
/// CSV cells), padded with -1.
@Suite struct SequenceFieldTests {
    typealias Slots = SequenceField.Slots
    let ms: UInt64 = 1_000_000

    @Test func directionsMergeByTimeAndGapsAreMillisecondStamps() {
        // initiator at 10.2 ms, 10.9 ms and 250.0 ms; responder at 136.5 ms and 137.1 ms
        let fwd = Slots(count: 3, time: [10 * ms + 200_000, 10 * ms + 900_000, 250 * ms, 0], size: [60, 40, 98, 0], order: [0, 0, 2, 0])
        let rev = Slots(count: 2, time: [136 * ms + 500_000, 137 * ms + 100_000, 0, 0], size: [44, 266, 0, 0], order: [2, 2, 0, 0])
        let m = SequenceField.merge(length: 6, forward: fwd, reverse: rev)
        #expect(m.direction == [0, 0, 1, 1, 0, -1])
        #expect(m.size == [60, 40, 44, 266, 98, -1])
        // stamps 10, 10, 136, 137, 250 ms: gaps 0 (first), 0, 126, 1, 113
        #expect(m.gap == [0, 0, 126, 1, 113, -1])
    }

    @Test func equalTimesAreOrderedByWhatEachPacketHadSeen() {
        // all in one µs: the responder's packet 0 had seen 1 initiator packet, the initiator's
        // packet 1 had seen 1 responder packet: initiator 0, responder 0, initiator 1, responder 1
        let t = 5 * ms
        let fwd = Slots(count: 2, time: [t, t], size: [1, 2], order: [0, 1])
        let rev = Slots(count: 2, time: [t, t], size: [3, 4], order: [1, 2])
        let m = SequenceField.merge(length: 4, forward: fwd, reverse: rev)
        #expect(m.size == [1, 3, 2, 4])
        #expect(m.direction == [0, 1, 0, 1])
    }

    @Test func moreThanTheLengthKeepsTheFirstAndAOneWayFlowIsPadded() {
        // 12 slots claimed (only 3 stored here, the length) and none back
        let fwd = Slots(count: 12, time: [1 * ms, 2 * ms, 4 * ms], size: [10, 20, 30], order: [0, 0, 0])
        let m = SequenceField.merge(length: 3, forward: fwd, reverse: nil)
        #expect(m.direction == [0, 0, 0] && m.size == [10, 20, 30] && m.gap == [0, 1, 2])
        let one = SequenceField.merge(length: 3, forward: Slots(count: 1, time: [7 * ms, 0, 0], size: [645, 0, 0], order: [0, 0, 0]), reverse: nil)
        #expect(one.direction == [0, -1, -1] && one.size == [645, -1, -1] && one.gap == [0, -1, -1])
    }

    /// A module with a sequence; its update body is empty: these tests write the records themselves.
    let module = """
    name: seq
    update: u.bpf.c
    fields:
      - name: n
        type: u32
        aggregation: sum
        export: false
      - name: t
        type: u64
        aggregation: histogram
        bins: 3
        export: false
      - name: s
        type: u32
        aggregation: histogram
        bins: 3
        export: false
      - name: o
        type: u32
        aggregation: histogram
        bins: 3
        export: false
      - name: early
        sequence: { length: 3, count: n, time: t, size: s, order: o }
        json: { forward: [E_DIR, E_SIZE, E_GAP] }
    """

    @Test func theLoaderChecksWhatASequenceNames() throws {
        try expectMalformed("name: m\nfields:\n  - name: q\n    sequence: { length: 0, count: a, time: b, size: c, order: d }\n    json: { forward: [A, B, C] }\n",
                            line: 4, containing: "sequence `length` must be a number of packets from 1 to 64")
        try expectMalformed("name: m\nfields:\n  - name: q\n    sequence: { length: 3, count: a, time: b, size: c }\n    json: { forward: [A, B, C] }\n",
                            line: 4, containing: "sequence needs `order:`")
        try expectMalformed("name: m\nfields:\n  - name: q\n    sequence: { length: 3, count: a, time: b, size: c, order: d }\n    json: { forward: [A, B] }\n",
                            line: 5, containing: "needs 3 names")
        try expectMalformed("name: m\nfields:\n  - name: q\n    sequence: { length: 3, count: a, time: b, size: c, order: d }\n    json: { reverse: [A, B, C] }\n",
                            line: 5, containing: "under `forward` only")
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = try writeModule("short", yaml: module.replacingOccurrences(of: "bins: 3\n    export: false\n  - name: o", with: "bins: 2\n    export: false\n  - name: o")
            .replacingOccurrences(of: "name: seq", with: "name: short"), files: ["u.bpf.c": "/* set by the test */\n"], root: root)
        let modules = try FeatureLoader(searchPaths: [ResourceLocator.locate().features, root]).loadAll()
        #expect(throws: FeatureError.malformed(file: spec, line: 23, message:
            "field 'early': sequence `size` 's' has 2 elements, needs 3 (a histogram with bins: 3 for an array)")) {
            try FeatureSelection("short", available: modules)
        }
    }

    @Test func arraysAreWrittenAsJSONArraysAndQuotedCSVCells() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("seq", yaml: module, files: ["u.bpf.c": "/* set by the test */\n"], root: root)
        let modules = try FeatureLoader(searchPaths: [ResourceLocator.locate().features, root]).loadAll()
        let plan = try Planner().plan(FeatureSelection("seq", available: modules))
        let decoder = RecordDecoder(plan: plan)
        func record(_ up: Bool, n: UInt64, t: [UInt64], s: [UInt64], o: [UInt64]) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            values[decoder.firstColumn["n"]!] = n
            for i in 0..<3 {
                values[decoder.firstColumn["t"]! + i] = t[i]
                values[decoder.firstColumn["s"]! + i] = s[i]
                values[decoder.firstColumn["o"]! + i] = o[i]
            }
            let a = IPAddress16(ipv4: [198, 18, 0, 1]), b = IPAddress16(ipv4: [198, 18, 0, 2])
            return FlowRecord(key: FlowKey(src: up ? a : b, dst: up ? b : a, sport: up ? 1 : 2, dport: up ? 2 : 1, proto: 17, ipVersion: 4), values: values)
        }
        let schema = OutputSchema(plan: plan)
        let flow = Biflow(id: 1, forward: record(true, n: 1, t: [3 * ms, 0, 0], s: [100, 0, 0], o: [0, 0, 0]),
                          reverse: record(false, n: 1, t: [5 * ms + 999_999, 0, 0], s: [1500, 0, 0], o: [1, 0, 0]), endReason: .forced)
        let values = Dictionary(uniqueKeysWithValues: zip(schema.columns.map(\.name), schema.values(of: flow, epochOffsetNs: 0)))
        #expect(values["E_DIR"] == .list([0, 1, -1]))
        let json = FlowFormatter(schema: schema, format: .json).format([flow], epochOffsetNs: 0)
        #expect(json.contains("\"E_DIR\":[0,1,-1],\"E_SIZE\":[100,1500,-1],\"E_GAP\":[0,2,-1],"), "\(json)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(parsed["E_SIZE"] as? [Int] == [100, 1500, -1])
        let csv = FlowFormatter(schema: schema, format: .csv).format([flow], epochOffsetNs: 0)
        #expect(csv.contains(",\"[0,1,-1]\",\"[100,1500,-1]\",\"[0,2,-1]\","), "\(csv)")
        // the plan document names the arrays, for other loaders of the maps
        let doc = PlanDocument(plan: plan).json()
        #expect(doc.contains("\"sequences\" : [") && doc.contains("\"order\" : \"o\"") && doc.contains("\"length\" : 3"), "\(doc)")
        #expect(FeatureListing(modules: [try #require(modules.first { $0.name == "seq" })]).text(withFields: true)
            .contains("early: first 3 packets of both directions at export -> E_DIR, E_SIZE, E_GAP"))
    }
}
