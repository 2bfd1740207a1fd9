import Foundation
import Testing
@testable import FlowgenCore

/// JSON lines and CSV as a reader sees them: valid per RFC 8259 and RFC 4180, with every value
/// where it belongs, even for names the loader would refuse.
@Suite struct OutputEscapingTests {
    /// Base plus `esc`: `marks` (sum) under MARKS.in-1 / MARKS.out-1 / marks-total, and `flags` (or)
    /// under FLAGS_IN only.
    static func plan(root: String) throws -> Plan {
        _ = try writeModule("esc", yaml: """
        name: esc
        fields:
          - name: marks
            type: u32
            aggregation: sum
            value: "1"
            json: { forward: MARKS.in-1, reverse: MARKS.out-1, combined: marks-total }
          - name: flags
            type: u32
            aggregation: or
            value: "0"
            json: { forward: FLAGS_IN }
        """, root: root)
        return try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: [root]).plan(features: "esc")
    }

    /// 10.0.0.1:40000 → 10.0.0.2:443 over TCP, 1000 packets out and 800 back.
    static func flow(_ plan: Plan) -> Biflow {
        let columns = RecordDecoder(plan: plan).firstColumn
        func record(_ key: FlowKey, _ fields: [String: UInt64]) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: RecordDecoder(plan: plan).columns.count)
            for (name, value) in fields { values[columns[name]!] = value }
            return FlowRecord(key: key, values: values)
        }
        let key = FlowKey(src: ipv4("10.0.0.1"), dst: ipv4("10.0.0.2"), sport: 40000, dport: 443, proto: 6, ipVersion: 4)
        let forward = record(key, ["packets": 1000, "bytes": 1_500_000, "first_seen": 2_000_000_000, "last_seen": 5_500_000_000,
                                   "marks": 3, "flags": 0x12])
        let reverse = record(key.reversed(icmpKeyed: true), ["packets": 800, "bytes": 64_000, "first_seen": 2_000_100_000,
                                                             "last_seen": 5_000_000_000, "marks": 4, "flags": 0x01])
        return Biflow(id: 7, forward: forward, reverse: reverse, endReason: .idleTimeout)
    }

    /// Monotonic ns + this = Unix time in ns.
    static let offset: Int64 = 1_700_000_000_000_000_000

    @Test func aJSONLineParsesToTheHandWorkedValues() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(root: root)
        let line = FlowFormatter(schema: OutputSchema(plan: plan), format: .json).format([Self.flow(plan)], epochOffsetNs: Self.offset)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "one JSON text per line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        // timestamps: (ns + offset) / 1000; start the earlier first_seen, end the later last_seen
        let expected: [String: Any] = [
            "FLOW_ID": 7, "IPV4_SRC_ADDR": "10.0.0.1", "IPV4_DST_ADDR": "10.0.0.2", "L4_SRC_PORT": 40000, "L4_DST_PORT": 443,
            "PROTOCOL": 6, "IP_PROTOCOL_VERSION": 4,
            "IN_PKTS": 1000, "OUT_PKTS": 800, "IN_BYTES": 1_500_000, "OUT_BYTES": 64_000,
            "FLOW_START_MICROSECONDS": 1_700_000_002_000_000, "FLOW_END_MICROSECONDS": 1_700_000_005_500_000,
            "MARKS.in-1": 3, "MARKS.out-1": 4, "marks-total": 7, "FLAGS_IN": 0x12,
            "FLOW_DURATION_MICROSECONDS": 3_500_000, "FLOW_END_REASON": "idle timeout",
        ]
        #expect(Set(object.keys) == Set(expected.keys))
        for (key, value) in expected {
            if let text = value as? String {
                #expect(object[key] as? String == text, "\(key)")
            } else {
                #expect((object[key] as? NSNumber)?.uint64Value == UInt64(value as! Int), "\(key)")
            }
        }
        // a reader that kept the last of two equal keys would hide a duplicate: count the keys in the
        // text itself (no value here holds a comma)
        #expect(line.filter { $0 == "," }.count + 1 == expected.count)
    }

    /// Names the loader refuses, put into a plan behind its back: the writer escapes them anyway.
    @Test func namesAreEscapedEvenPastTheLoader() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var plan = try Self.plan(root: root)
        let esc = try #require(plan.features.firstIndex { $0.name == "esc" })
        plan.features[esc].fields[0].json = DirectionalNames(forward: ["q\"uote"], reverse: ["a,b"], combined: ["new\nline\u{01}"])
        plan.features[esc].fields[1].json = DirectionalNames(forward: ["back\\slash"])
        let schema = OutputSchema(plan: plan)
        let flow = Self.flow(plan)

        let json = FlowFormatter(schema: schema, format: .json).format([flow], epochOffsetNs: Self.offset)
        // RFC 8259 section 7: quotation mark and reverse solidus escaped, control characters as \n or \u00XX
        #expect(json.contains(#","q\"uote":3,"a,b":4,"new\nline\u0001":7,"back\\slash":18,"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect((object["q\"uote"] as? NSNumber)?.intValue == 3)
        #expect((object["a,b"] as? NSNumber)?.intValue == 4)
        #expect((object["new\nline\u{01}"] as? NSNumber)?.intValue == 7)
        #expect((object["back\\slash"] as? NSNumber)?.intValue == 18)
        #expect((object["IN_PKTS"] as? NSNumber)?.intValue == 1000)

        // RFC 4180 section 2.6/2.7: a cell with a comma, quote or line break is quoted, quotes doubled;
        // the IPv6 columns of an IPv4 flow are empty
        let csv = FlowFormatter(schema: schema, format: .csv)
        #expect(csv.header() == "FLOW_ID,IPV4_SRC_ADDR,IPV4_DST_ADDR,IPV6_SRC_ADDR,IPV6_DST_ADDR,L4_SRC_PORT,L4_DST_PORT,PROTOCOL,IP_PROTOCOL_VERSION,"
            + "IN_PKTS,OUT_PKTS,IN_BYTES,OUT_BYTES,FLOW_START_MICROSECONDS,FLOW_END_MICROSECONDS,"
            + "\"q\"\"uote\",\"a,b\",\"new\nline\u{01}\",back\\slash,FLOW_DURATION_MICROSECONDS,FLOW_END_REASON\n")
        #expect(csv.format([flow], epochOffsetNs: Self.offset)
            == "7,10.0.0.1,10.0.0.2,,,40000,443,6,4,1000,800,1500000,64000,1700000002000000,1700000005500000,3,4,7,18,3500000,idle timeout\n")
    }
}
