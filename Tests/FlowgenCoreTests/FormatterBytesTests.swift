import Foundation
import Testing
@testable import FlowgenCore
import FlowgenKernel
@testable import FlowgenTestSupport

/// Flows that reach every branch of the formatters: IPv4 and IPv6 (with runs of zero groups, and
/// the odd v4-mapped v6 key), one-way flows, ICMP, every end reason, values that mean "no sample",
/// timestamps before and after the epoch, and numbers of every length up to 20 digits.
func randomFlows(_ plan: Plan, count: Int, seed: UInt64) -> [Biflow] {
    var rng = SplitMix64(state: seed)
    let decoder = RecordDecoder(plan: plan)
    let timestamps = Set(["first_seen", "last_seen"].compactMap { decoder.firstColumn[$0] })
    func value(_ column: Int) -> UInt64 {
        switch rng.next() % 8 {
        case 0: return 0
        case 1: return .max                                   // the usual `none`
        case 2: return rng.next()                             // 20 digits and less
        case 3: return rng.next() >> (rng.next() % 64)        // every length
        case 4: return timestamps.contains(column) ? rng.next() % 4_000_000_000_000 : rng.next() % 10
        default: return rng.next() % 100_000
        }
    }
    func address(v6: Bool) -> IPAddress16 {
        if !v6 { return IPAddress16(ipv4: (0..<4).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3 == 0 ? 0 : rng.next()) }) }
        // groups are often zero, so that zero runs of every length and position occur
        let groups: [UInt16] = (0..<8).map { _ in
            switch rng.next() % 4 {
            case 0, 1: return 0
            case 2: return UInt16(truncatingIfNeeded: rng.next() >> (rng.next() % 16 + 48))
            default: return UInt16(truncatingIfNeeded: rng.next())
            }
        }
        return IPAddress16(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
    }
    return (0..<count).map { i in
        let v6 = rng.next() % 3 == 0
        var src = address(v6: v6), dst = address(v6: v6)
        if v6 && rng.next() % 10 == 0 { src = address(v6: false) }        // a v4-mapped address in a v6 key
        if !v6 && rng.next() % 20 == 0 { dst = address(v6: true) }        // and a v6 address in a v4 key
        let proto: UInt8 = [6, 6, 17, 1, 58, 132][Int(rng.next() % 6)]
        let key = FlowKey(src: src, dst: dst, sport: UInt16(truncatingIfNeeded: rng.next()), dport: UInt16(truncatingIfNeeded: rng.next()),
                          proto: proto, ipVersion: v6 ? 6 : 4)
        func record(_ key: FlowKey) -> FlowRecord { FlowRecord(key: key, values: (0..<decoder.columns.count).map(value)) }
        let forward = record(key)
        let reverse = rng.next() % 4 == 0 ? nil : record(key.reversed(icmpKeyed: true))
        let id = rng.next() % 2 == 0 ? UInt64(i) : rng.next()
        return Biflow(id: id, forward: forward, reverse: reverse, endReason: EndReason.allCases[Int(rng.next() % 6)])
    }
}

@Suite struct FormatterBytesTests {
    /// Plans covering every kind of column: the presets, `none` values (dns, tcp_options), histograms
    /// (pkt_len, payload), derived fields (tcp_window) and a module with combined derived timestamps.
    static func plans() throws -> [(String, Plan)] {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("mix", yaml: """
        name: mix
        fields:
          - name: gap
            type: u64
            aggregation: min
            value: "0"
            none: 0xffffffffffffffff
            json: { forward: GAP_IN, reverse: GAP_OUT, combined: GAP }
          - name: stamp
            type: u64
            aggregation: last
            value: pkt->now
            unit: timestamp
            none: 0
            json: { forward: STAMP_IN, reverse: STAMP_OUT, combined: STAMP }
          - name: late
            derive: "peer.last_seen > last_seen ? peer.last_seen : absent"
            aggregation: max
            unit: timestamp
            json: { forward: LATE_IN, reverse: LATE_OUT, combined: LATE }
          - name: ratio
            derive: "bytes / packets"
            aggregation: sum
            json: { forward: RATIO_IN, combined: RATIO }
        """, root: root)
        let resources = try ResourceLocator.locate()
        let modules = try FeatureLoader(searchPaths: [resources.features, root]).loadAll()
        let catalog = try FeatureCatalog(resources: resources)
        return [
            ("base", try catalog.plan(features: "base")),
            ("seed", try catalog.plan(features: "seed")),
            ("wide", try catalog.plan(features: "tcp,icmp,dns,tcp_options,payload,pkt_len,ipv4,ipv6,precise_time")),
            ("mix", try Planner().plan(FeatureSelection("mix,tcp_window,icmp", available: modules))),
            ("mixOnly", try Planner().plan(FeatureSelection("mix", available: modules))),
        ]
    }

    /// IPFIX Data Records as tshark's IPFIX dissector reads them from an IPFIX file (RFC 5655), for
    /// flows whose elements were worked out by hand from RFC 7011 (key, counters, times in ms),
    /// RFC 5103 (reverse elements, biflowDirection 1 = initiator) and IANA's flowEndReason codes.
    /// Record time + 1.7e18 ns is Unix time; 1_700_000_000 s is Nov 14, 2023 22:13:20 UTC.
    @Test func ipfixRecordsReadByTsharkEqualHandWorkedValues() throws {
        let tshark = try Tool.path("tshark", package: "tshark")
        let fx = try IPFIXFixture(features: "tcp,icmp")
        let s: UInt64 = 1_000_000_000, offset: Int64 = 1_700_000_000_000_000_000
        let c = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 40000, dport: 80, proto: 6, ipVersion: 4)
        let echo = FlowKey(src: ipv4("198.18.0.3"), dst: ipv4("198.18.0.4"), sport: 0x1234, dport: 8 << 8, proto: 1, ipVersion: 4)
        let reply = FlowKey(src: ipv4("198.18.0.4"), dst: ipv4("198.18.0.3"), sport: 0x1234, dport: 0, proto: 1, ipVersion: 4)
        let v6 = FlowKey(src: ipv6("2001:db8:0:0:1:0:0:1"), dst: ipv6("2001:db8:0:1:1:1:1:1"), sport: 5353, dport: 53, proto: 17, ipVersion: 6)
        let flows = [
            Biflow(id: 7, forward: fx.record(c, ["packets": 3, "bytes": 180, "first_seen": s, "last_seen": s + 500_000_000, "tcp_flags": 0x13]),
                   reverse: fx.record(c.reversed(icmpKeyed: true), ["packets": 2, "bytes": 112, "first_seen": s + 100_000_000,
                                                                    "last_seen": s + 400_000_000, "tcp_flags": 0x12]),
                   endReason: .endOfFlow),
            Biflow(id: 8, forward: fx.record(echo, ["packets": 1, "bytes": 84, "first_seen": 2 * s, "last_seen": 2 * s]),
                   reverse: fx.record(reply, ["packets": 1, "bytes": 84, "first_seen": 2 * s + 250_000_000, "last_seen": 2 * s + 250_000_000]),
                   endReason: .idleTimeout),
            Biflow(id: 9, forward: fx.record(v6, ["packets": 4, "bytes": 400, "first_seen": 5 * s, "last_seen": 8 * s]), reverse: nil,
                   endReason: .activeTimeout),
        ]
        // "Label" is the forward element as tshark names it, "Label <" its RFC 5103 reverse
        let expected: [[String: String]] = [
            ["SrcAddr": "198.18.0.1", "DstAddr": "198.18.0.2", "SrcPort": "40000", "DstPort": "80", "Protocol": "TCP (6)",
             "Flow End Reason": "End of Flow detected (3)", "Biflow Direction": "Initiator (1)", "Flow Id": "7",
             "Packets": "3", "Packets <": "2", "Octets": "180", "Octets <": "112",
             // earliest first 1e9 ns → 1_700_000_001_000 ms; latest last 1.5e9 ns → 1_700_000_001_500 ms
             "StartTime": "Nov 14, 2023 22:13:21.000000000 UTC", "EndTime": "Nov 14, 2023 22:13:21.500000000 UTC",
             // FIN|SYN|ACK = 0x13, SYN|ACK = 0x12
             "TCP Flags": "0x0013, ACK, SYN, FIN", "TCP Flags <": "0x0012, ACK, SYN"],
            // ICMP: source port = identifier 0x1234 = 4660, destination port and icmpTypeCodeIPv4 = type 8 × 256 + code 0
            ["SrcAddr": "198.18.0.3", "DstAddr": "198.18.0.4", "SrcPort": "4660", "DstPort": "2048", "Protocol": "ICMP (1)",
             "ICMP Type": "0x0800", "Flow End Reason": "Idle timeout (1)", "Flow Id": "8",
             "Packets": "1", "Packets <": "1", "Octets": "84", "Octets <": "84",
             "StartTime": "Nov 14, 2023 22:13:22.000000000 UTC", "EndTime": "Nov 14, 2023 22:13:22.250000000 UTC"],
            // one-way: the template without reverse elements; RFC 5952 text from tshark as well
            ["SrcAddr": "2001:db8::1:0:0:1", "DstAddr": "2001:db8:0:1:1:1:1:1", "SrcPort": "5353", "DstPort": "53", "Protocol": "UDP (17)",
             "Flow End Reason": "Active timeout (2)", "Flow Id": "9", "Packets": "4", "Octets": "400",
             "StartTime": "Nov 14, 2023 22:13:25.000000000 UTC", "EndTime": "Nov 14, 2023 22:13:28.000000000 UTC"],
        ]
        let path = NSTemporaryDirectory() + "flowgen-\(UUID().uuidString).ipfix"
        defer { unlink(path) }
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .file(path: path), epochOffsetNs: { offset })
        try exporter.export(flows)
        try exporter.close()
        let r = try Tool.run([tshark, "-r", path, "-V", "-o", "cflow.max_template_fields:1000"], environment: ["TZ": "UTC"])
        #expect(r.status == 0, "tshark: \(r.stderr)")
        // tshark -V: each data record opens with "Flow N", then "Label: value" lines; a reverse
        // element's value ends in "(Reverse Type ...)"
        var records: [[String: String]] = []
        for line in r.stdout.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Flow "), Int(t.dropFirst(5)) != nil {
                records.append([:])
                continue
            }
            guard !records.isEmpty, let colon = t.range(of: ": ") else { continue }
            var label = String(t[..<colon.lowerBound]), value = String(t[colon.upperBound...])
            if let reverse = value.range(of: " (Reverse Type") {
                value = String(value[..<reverse.lowerBound])
                label += " <"
            }
            if records[records.count - 1][label] == nil { records[records.count - 1][label] = value }
        }
        try #require(records.count == expected.count, "tshark read \(records.count) data records:\n\(r.stdout.suffix(3000))")
        for (i, (got, want)) in zip(records, expected).enumerated() {
            for (label, value) in want where got[label] != value {
                Issue.record("flow \(i + 1) \(label): expected \(value), tshark read \(got[label] ?? "nothing")")
            }
            if i == 2 { #expect(!got.keys.contains { $0.hasSuffix(" <") }, "a one-way flow has no reverse elements: \(got)") }
        }
    }

    /// A JSON or CSV value as the output documentation describes it (docs/output-fields.md).
    enum Cell: Equatable, CustomStringConvertible {
        case n(UInt64)
        case s(String)
        var description: String {
            switch self {
            case let .n(v): return String(v)
            case let .s(v): return v
            }
        }
    }

    /// Flows whose every output value was worked out by hand from the documented meaning of the
    /// fields (docs/output-fields.md) and RFC 5952 address text; the arithmetic is in the comments.
    static func vectors() throws -> [(name: String, plan: Plan, flow: Biflow, offset: Int64, expected: [String: Cell])] {
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate())
        let tcp = IPFIXFixture(plan: try catalog.plan(features: "tcp"))
        let icmp = IPFIXFixture(plan: try catalog.plan(features: "icmp"))
        let mix = IPFIXFixture(plan: try plans().first { $0.0 == "mixOnly" }!.1)
        let s: UInt64 = 1_000_000_000
        // 1. A TCP biflow over IPv4, plan `tcp`; record time + 1.7e18 ns = Unix time.
        let c = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 40000, dport: 80, proto: 6, ipVersion: 4)
        let tcpFlow = Biflow(id: 7,
                             forward: tcp.record(c, ["packets": 3, "bytes": 180, "first_seen": s, "last_seen": s + 500_000, "tcp_flags": 0x13]),
                             reverse: tcp.record(c.reversed(icmpKeyed: true), ["packets": 2, "bytes": 112, "first_seen": s + 100_000,
                                                                               "last_seen": s + 400_000, "tcp_flags": 0x12]),
                             endReason: .endOfFlow)
        let tcpExpected: [String: Cell] = [
            "FLOW_ID": .n(7), "IPV4_SRC_ADDR": .s("198.18.0.1"), "IPV4_DST_ADDR": .s("198.18.0.2"),
            "L4_SRC_PORT": .n(40000), "L4_DST_PORT": .n(80), "PROTOCOL": .n(6), "IP_PROTOCOL_VERSION": .n(4),
            "IN_PKTS": .n(3), "OUT_PKTS": .n(2), "IN_BYTES": .n(180), "OUT_BYTES": .n(112),
            // earliest first: min(1e9, 1e9 + 1e5) = 1e9 ns; + 1.7e18 = 1_700_000_001_000_000_000 ns = 1_700_000_001_000_000 µs
            "FLOW_START_MICROSECONDS": .n(1_700_000_001_000_000),
            // latest last: max(1e9 + 5e5, 1e9 + 4e5) = 1_000_500_000 ns; + 1.7e18 → 1_700_000_001_000_500 µs
            "FLOW_END_MICROSECONDS": .n(1_700_000_001_000_500),
            "FLOW_DURATION_MICROSECONDS": .n(500),
            // FIN|SYN|ACK = 0x01|0x02|0x10 = 19; SYN|ACK = 0x12 = 18; both OR-ed: 0x13 = 19
            "TCP_FLAGS": .n(19), "CLIENT_TCP_FLAGS": .n(19), "SERVER_TCP_FLAGS": .n(18),
            "FLOW_END_REASON": .s("end of flow"),
        ]
        // 2. An ICMP echo biflow, plan `icmp`: the key's source port is the identifier (0x1234 = 4660),
        // the destination port type × 256 + code = 8 × 256 + 0 = 2048, and ICMP_TYPE the same.
        let echo = FlowKey(src: ipv4("198.18.0.3"), dst: ipv4("198.18.0.4"), sport: 0x1234, dport: 8 << 8, proto: 1, ipVersion: 4)
        let reply = FlowKey(src: ipv4("198.18.0.4"), dst: ipv4("198.18.0.3"), sport: 0x1234, dport: 0, proto: 1, ipVersion: 4)
        let echoFlow = Biflow(id: 8, forward: icmp.record(echo, ["packets": 1, "bytes": 84, "first_seen": 2 * s, "last_seen": 2 * s]),
                              reverse: icmp.record(reply, ["packets": 1, "bytes": 84, "first_seen": 2 * s + 250_000, "last_seen": 2 * s + 250_000]),
                              endReason: .idleTimeout)
        let echoExpected: [String: Cell] = [
            "FLOW_ID": .n(8), "IPV4_SRC_ADDR": .s("198.18.0.3"), "IPV4_DST_ADDR": .s("198.18.0.4"),
            "L4_SRC_PORT": .n(4660), "L4_DST_PORT": .n(2048), "PROTOCOL": .n(1), "IP_PROTOCOL_VERSION": .n(4), "ICMP_TYPE": .n(2048),
            "IN_PKTS": .n(1), "OUT_PKTS": .n(1), "IN_BYTES": .n(84), "OUT_BYTES": .n(84),
            // offset 0: 2e9 ns = 2_000_000 µs; the reply 250 µs later ends the flow
            "FLOW_START_MICROSECONDS": .n(2_000_000), "FLOW_END_MICROSECONDS": .n(2_000_250), "FLOW_DURATION_MICROSECONDS": .n(250),
            "FLOW_END_REASON": .s("idle timeout"),
        ]
        // 3. A one-way UDP flow over IPv6, plan `icmp`. RFC 5952 §4.2.3: of two equal zero runs the
        // first is shortened (2001:db8:0:0:1:0:0:1 → 2001:db8::1:0:0:1); §4.2.2: one zero group is not
        // (2001:db8:0:1:1:1:1:1 stays as it is). Sums of the missing direction are 0.
        let v6 = FlowKey(src: ipv6("2001:db8:0:0:1:0:0:1"), dst: ipv6("2001:db8:0:1:1:1:1:1"), sport: 5353, dport: 53, proto: 17, ipVersion: 6)
        let v6Flow = Biflow(id: 9, forward: icmp.record(v6, ["packets": 4, "bytes": 400, "first_seen": 5 * s, "last_seen": 8 * s]),
                            reverse: nil, endReason: .activeTimeout)
        let v6Expected: [String: Cell] = [
            "FLOW_ID": .n(9), "IPV6_SRC_ADDR": .s("2001:db8::1:0:0:1"), "IPV6_DST_ADDR": .s("2001:db8:0:1:1:1:1:1"),
            "L4_SRC_PORT": .n(5353), "L4_DST_PORT": .n(53), "PROTOCOL": .n(17), "IP_PROTOCOL_VERSION": .n(6),
            "IN_PKTS": .n(4), "OUT_PKTS": .n(0), "IN_BYTES": .n(400), "OUT_BYTES": .n(0),
            // offset 1e9: (5e9 + 1e9) ns = 6_000_000 µs, (8e9 + 1e9) ns = 9_000_000 µs
            "FLOW_START_MICROSECONDS": .n(6_000_000), "FLOW_END_MICROSECONDS": .n(9_000_000), "FLOW_DURATION_MICROSECONDS": .n(3_000_000),
            "FLOW_END_REASON": .s("active timeout"),
        ]
        // 4. The `mix` module: a min with a "no sample" value, a last timestamp, a derived timestamp
        // and a derived sum, offset 0.
        let m = FlowKey(src: ipv4("198.18.0.5"), dst: ipv4("198.18.0.6"), sport: 1000, dport: 2000, proto: 17, ipVersion: 4)
        let mixFlow = Biflow(id: 10,
                             forward: mix.record(m, ["packets": 4, "bytes": 400, "first_seen": s, "last_seen": 3 * s,
                                                     "gap": .max, "stamp": 2_500_000_000]),
                             reverse: mix.record(m.reversed(icmpKeyed: true), ["packets": 2, "bytes": 300, "first_seen": 1_500_000_000,
                                                                               "last_seen": 4 * s, "gap": 7, "stamp": 0]),
                             endReason: .forced)
        let mixExpected: [String: Cell] = [
            "FLOW_ID": .n(10), "IPV4_SRC_ADDR": .s("198.18.0.5"), "IPV4_DST_ADDR": .s("198.18.0.6"),
            "L4_SRC_PORT": .n(1000), "L4_DST_PORT": .n(2000), "PROTOCOL": .n(17), "IP_PROTOCOL_VERSION": .n(4),
            "IN_PKTS": .n(4), "OUT_PKTS": .n(2), "IN_BYTES": .n(400), "OUT_BYTES": .n(300),
            "FLOW_START_MICROSECONDS": .n(1_000_000), "FLOW_END_MICROSECONDS": .n(4_000_000), "FLOW_DURATION_MICROSECONDS": .n(3_000_000),
            // gap: the initiator's is its `none` (no sample: left out), the responder's 7; combined min of what there is: 7
            "GAP_OUT": .n(7), "GAP": .n(7),
            // stamp: 2.5e9 ns = 2_500_000 µs; the responder's is its `none` (0): left out; combined: the one there is
            "STAMP_IN": .n(2_500_000), "STAMP": .n(2_500_000),
            // late = peer.last_seen when later than own last_seen: initiator 4e9 > 3e9 → 4_000_000 µs;
            // responder 3e9 > 4e9 is false → absent; combined max of what there is: 4_000_000
            "LATE_IN": .n(4_000_000), "LATE": .n(4_000_000),
            // ratio = bytes / packets: 400 / 4 = 100 and 300 / 2 = 150; combined sum 250
            "RATIO_IN": .n(100), "RATIO": .n(250),
            "FLOW_END_REASON": .s("forced"),
        ]
        return [("tcp", tcp.plan, tcpFlow, 1_700_000_000_000_000_000, tcpExpected), ("icmp echo", icmp.plan, echoFlow, 0, echoExpected),
                ("ipv6 one-way", icmp.plan, v6Flow, 1_000_000_000, v6Expected), ("mix", mix.plan, mixFlow, 0, mixExpected)]
    }

    /// JSON lines against the hand-worked vectors, read back with Foundation's JSON parser: every
    /// expected key with its value, nothing else (a field that does not apply is left out).
    @Test func jsonEqualsHandWorkedVectors() throws {
        for v in try Self.vectors() {
            let formatter = FlowFormatter(schema: OutputSchema(plan: v.plan), format: .json)
            let text = formatter.format([v.flow], epochOffsetNs: v.offset)
            #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "\(v.name): one line per flow")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(v.name): \(text)")
            var got: [String: Cell] = [:]
            for (key, value) in object {
                if let string = value as? String { got[key] = .s(string) } else if let number = value as? NSNumber { got[key] = .n(number.uint64Value) }
                else { Issue.record("\(v.name): \(key) is neither a string nor a number: \(value)") }
            }
            for key in Set(got.keys).union(v.expected.keys) where got[key] != v.expected[key] {
                Issue.record("\(v.name) \(key): expected \(v.expected[key].map(\.description) ?? "absent"), got \(got[key].map(\.description) ?? "absent")")
            }
        }
    }

    /// CSV rows against the same vectors: the header names the columns, a field that does not
    /// apply is an empty cell, the text has neither commas nor quotes, so a plain split reads it.
    @Test func csvEqualsHandWorkedVectors() throws {
        for v in try Self.vectors() {
            let formatter = FlowFormatter(schema: OutputSchema(plan: v.plan), format: .csv)
            let header = formatter.header().split(separator: "\n")[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let row = formatter.format([v.flow], epochOffsetNs: v.offset)
            #expect(row.hasSuffix("\n") && !row.contains("\""), "\(v.name): \(row)")
            let cells = row.dropLast().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            try #require(cells.count == header.count, "\(v.name): \(cells.count) cells under \(header.count) names")
            #expect(Set(v.expected.keys).isSubset(of: header), "\(v.name): \(Set(v.expected.keys).subtracting(header)) not in the header")
            for (name, cell) in zip(header, cells) where cell != (v.expected[name]?.description ?? "") {
                Issue.record("\(v.name) \(name): expected \(v.expected[name]?.description ?? "an empty cell"), got \(cell)")
            }
        }
    }

    /// Thousands of random flows through every plan: each JSON line is valid JSON (Foundation's
    /// parser), addresses read as the key's bytes in RFC 5952 text (glibc's inet_ntop), the counters
    /// are the records' own; and the byte path gives the same bytes however it is called.
    @Test(arguments: [OutputFormat.json, .csv])
    func randomFlowsAreWellFormed(format: OutputFormat) throws {
        for (name, plan) in try Self.plans() {
            let schema = OutputSchema(plan: plan)
            let decoder = RecordDecoder(plan: plan)
            let packets = try #require(decoder.firstColumn["packets"])
            let formatter = FlowFormatter(schema: schema, format: format)
            let header = format == .csv ? Self.csvCells(Substring(formatter.header().dropLast())) : []
            for (round, offset) in [Int64(0), 1_700_000_000_000_000_000, -3_000_000_000_000].enumerated() {
                let flows = randomFlows(plan, count: name == "base" ? 3000 : 800, seed: UInt64(round) * 7919 + UInt64(name.utf8.count))
                let text = formatter.format(flows, epochOffsetNs: offset)
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                try #require(lines.count == flows.count && text.hasSuffix("\n"), "\(name) \(format): one line per flow")
                for (flow, line) in zip(flows, lines) {
                    let fields: [String: String]
                    if format == .json {
                        // valid JSON by Foundation's parser; the values read from the text itself, as
                        // the parser turns numbers above 2^63 into doubles
                        guard (try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any] else {
                            Issue.record("\(name) flow \(flow.id): not a JSON object: \(line)")
                            break
                        }
                        fields = Self.jsonTokens(line)
                    } else {
                        let cells = Self.csvCells(line)
                        guard cells.count == header.count else {
                            Issue.record("\(name) flow \(flow.id): \(cells.count) cells under \(header.count) names: \(line)")
                            break
                        }
                        fields = Dictionary(uniqueKeysWithValues: zip(header, cells)).filter { !$0.value.isEmpty }
                    }
                    let key = flow.forward.key, v4 = key.ipVersion == 4
                    let expected = [(v4 ? "IPV4_SRC_ADDR" : "IPV6_SRC_ADDR", Self.rfc5952(key.src)), (v4 ? "IPV4_DST_ADDR" : "IPV6_DST_ADDR", Self.rfc5952(key.dst)),
                                    ("FLOW_ID", String(flow.id)), ("IN_PKTS", String(flow.forward.values[packets])),
                                    ("L4_SRC_PORT", String(key.sport)), ("PROTOCOL", String(key.proto))]
                    for (field, value) in expected where fields[field] != value {
                        Issue.record("\(name) flow \(flow.id) \(field): expected \(value), got \(fields[field] ?? "nothing")")
                    }
                }
                // appending keeps what the buffer held and adds the same bytes
                var buffer: [UInt8] = Array("prefix".utf8)
                formatter.append(flows[..<(flows.count / 2)], epochOffsetNs: offset, to: &buffer)
                formatter.append(flows[(flows.count / 2)...], epochOffsetNs: offset, to: &buffer)
                #expect(buffer == Array("prefix".utf8) + Array(text.utf8), "\(name) \(format) in two slices")
                #expect(formatter.formatBytes(flows, epochOffsetNs: offset) == Array(text.utf8))
            }
        }
    }

    /// The members of one flat JSON object as their text (strings without their quotes); enough for
    /// the formatter's lines, whose strings here hold no escapes, commas or braces.
    static func jsonTokens(_ line: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var depth = 0, token = "", member = ""
        for c in line.dropFirst().dropLast() {
            if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
            if c == "," && depth == 0 {
                member = token
                token = ""
            } else {
                token.append(c)
                continue
            }
            Self.addMember(member, to: &out)
        }
        Self.addMember(token, to: &out)
        return out
    }

    static func addMember(_ member: String, to out: inout [String: String]) {
        guard let colon = member.firstIndex(of: ":") else { return }
        let name = member[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        out[name] = member[member.index(after: colon)...].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// Cells of one CSV row (RFC 4180: quoted cells, doubled quotes inside).
    static func csvCells(_ line: Substring) -> [String] {
        var cells: [String] = [], cell = "", quoted = false, previousQuote = false
        for c in line {
            if quoted {
                if c == "\"" { quoted = false; previousQuote = true } else { cell.append(c) }
            } else if c == "\"" {
                if previousQuote { cell.append("\"") }
                quoted = true
                previousQuote = false
            } else if c == "," {
                cells.append(cell)
                cell = ""
                previousQuote = false
            } else {
                cell.append(c)
                previousQuote = false
            }
        }
        cells.append(cell)
        return cells
    }

    /// The address as the output must show it: an IPv4(-mapped) address as a dotted quad, any other
    /// as glibc's inet_ntop writes it (RFC 5952: lowercase, no leading zeros, the first longest run
    /// of two or more zero groups shortened), except that glibc writes ::a.b.c.d for the deprecated
    /// IPv4-compatible form (RFC 4291 §2.5.5.1), which RFC 5952 §5 does not ask for: there the last
    /// two groups are hex.
    static func rfc5952(_ address: IPAddress16) -> String {
        let b = address.bytes
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return b[12...].map(String.init).joined(separator: ".") }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = b.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        let ntop = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if b[0..<12].allSatisfy({ $0 == 0 }) && ntop.contains(".") {
            return "::" + [UInt16(b[12]) << 8 | UInt16(b[13]), UInt16(b[14]) << 8 | UInt16(b[15])].map { String($0, radix: 16) }.joined(separator: ":")
        }
        return ntop
    }

    /// Every pattern of zero and non-zero groups, against glibc's inet_ntop (see `rfc5952`), and the
    /// forms inet_ntop writes otherwise, worked out by hand.
    @Test func addressTextIsRFC5952() {
        var rng = SplitMix64(state: 5952)
        for pattern in 0..<256 {
            for _ in 0..<4 {
                let groups: [UInt16] = (0..<8).map { i in pattern & (1 << i) == 0 ? 0 : UInt16(truncatingIfNeeded: rng.next() >> (rng.next() % 16 + 48)) | 1 }
                let address = IPAddress16(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
                #expect(Self.text(address) == Self.rfc5952(address), "\(groups)")
            }
        }
        // IPv4-compatible ::1.2.3.4: groups 0 0 0 0 0 0 0x0102 0x0304 → "::102:304"; ::ffff:1.2.3.4 is IPv4
        #expect(Self.text(IPAddress16([UInt8](repeating: 0, count: 12) + [1, 2, 3, 4])) == "::102:304")
        #expect(Self.text(IPAddress16([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 1, 2, 3, 4])) == "1.2.3.4")
        #expect(Self.text(IPAddress16([UInt8](repeating: 0, count: 16))) == "::")
        #expect(Self.text(IPAddress16([UInt8](repeating: 0, count: 15) + [1])) == "::1")
        for quad in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 99, 100], [1, 22, 233, 4]] as [[UInt8]] {
            let address = IPAddress16(ipv4: quad)
            #expect(Self.text(address) == quad.map(String.init).joined(separator: "."))
        }
    }

    /// Decimal text of the byte writer at every length, around every power of ten, and at random.
    @Test func decimalsEqualStringOfTheNumber() {
        var numbers: [UInt64] = [0, 9, 10, 99, 100, .max, .max - 1]
        var p: UInt64 = 1
        while p < UInt64.max / 10 {
            numbers += [p - 1, p, p + 1]
            p *= 10
        }
        numbers += [p - 1, p, p + 1]
        var rng = SplitMix64(state: 10)
        numbers += (0..<20_000).map { _ in rng.next() >> (rng.next() % 64) } + (0..<20_000).map(UInt64.init)
        for n in numbers {
            let text = [UInt8](unsafeUninitializedCapacity: ByteCursor.maxDecimalLength + ByteCursor.slack) { buffer, count in
                var w = ByteCursor(buffer.baseAddress!)
                w.decimal(n)
                count = w.p - buffer.baseAddress!
            }
            #expect(String(decoding: text, as: UTF8.self) == String(n))
        }
    }

    /// Real text of the byte writer (whole numbers take a path of their own) equals the standard
    /// library's `description`: signs, zero and minus zero, around 2^53 where the description turns
    /// to an exponent, fractions, and at random.
    @Test func realsEqualTheirDescription() {
        let limit = 9_007_199_254_740_992.0
        var values: [Double] = [0, -0.0, 1, -1, 80, 0.5, 68.00000000000001, 645.0, 1e15, 1e16, 1e17, 1e-5, 123.456,
                                limit, limit - 1, limit + 2, -limit, -(limit - 1), 4_503_599_627_370_496, .ulpOfOne,
                                .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        var p = 1.0
        while p < 1e22 {
            values += [p - 1, p, p + 1, -p, p / 3]
            p *= 10
        }
        var rng = SplitMix64(state: 53)
        values += (0..<20_000).map { _ in Double(rng.next() >> (rng.next() % 64)) }
        values += (0..<20_000).map { _ in Double(bitPattern: rng.next() & ~(0x7FF << 52) | (UInt64(1000 + rng.next() % 100) << 52)) }
        for v in values {
            let text = [UInt8](unsafeUninitializedCapacity: ByteCursor.maxRealLength + ByteCursor.slack) { buffer, count in
                var w = ByteCursor(buffer.baseAddress!)
                w.real(v)
                count = w.p - buffer.baseAddress!
            }
            #expect(String(decoding: text, as: UTF8.self) == v.description, "\(v)")
        }
    }

    static func text(_ address: IPAddress16) -> String {
        let bytes = [UInt8](unsafeUninitializedCapacity: ByteCursor.maxAddressLength) { buffer, count in
            var w = ByteCursor(buffer.baseAddress!)
            w.address(address)
            count = w.p - buffer.baseAddress!
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
