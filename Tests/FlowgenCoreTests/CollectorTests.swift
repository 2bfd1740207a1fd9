import Foundation
import Testing
@testable import FlowgenCore

/// An in-memory flow table with the kernel map's contract (key bytes → record bytes), so the pure
/// collector logic can be tested without a kernel. Kernel behaviour itself is tested in FlowgenKernelTests.
final class MemoryFlowTable: FlowTableSource {
    var entries: [[UInt8]: [UInt8]] = [:]
    let plan: Plan

    init(plan: Plan) { self.plan = plan }

    /// Stores a direction with the given field values (scalars only, by name).
    func put(_ key: FlowKey, _ fields: [String: UInt64]) {
        var value = [UInt8](repeating: 0, count: plan.layout.size)
        for (name, v) in fields {
            let slot = plan.slot(name)!
            value.withUnsafeMutableBytes { raw in
                switch slot.field.type.size {
                case 8: raw.storeBytes(of: v, toByteOffset: slot.offset, as: UInt64.self)
                case 4: raw.storeBytes(of: UInt32(v), toByteOffset: slot.offset, as: UInt32.self)
                case 2: raw.storeBytes(of: UInt16(v), toByteOffset: slot.offset, as: UInt16.self)
                default: raw[slot.offset] = UInt8(v)
                }
            }
        }
        entries[key.bytes] = value
    }

    func read() throws -> FlowSnapshot {
        FlowSnapshot(keySize: FlowKey.byteSize, valueSize: plan.layout.size,
                     keys: entries.keys.flatMap { $0 }, values: entries.keys.flatMap { entries[$0]! })
    }

    func remove(key: [UInt8]) throws -> [UInt8]? { entries.removeValue(forKey: key) }
}

/// Collects exported flows.
final class CapturingExporter: FlowExporter {
    var flows: [Biflow] = []
    func export(_ flows: [Biflow]) throws { self.flows += flows }
    func close() throws {}
}

func v4(_ s: String) -> IPAddress16 {
    IPAddress16(ipv4: s.split(separator: ".").map { UInt8($0)! })
}

func tcpKey(_ a: String, _ ap: UInt16, _ b: String, _ bp: UInt16) -> FlowKey {
    FlowKey(src: v4(a), dst: v4(b), sport: ap, dport: bp, proto: 6, ipVersion: 4)
}

let second: UInt64 = 1_000_000_000

@Suite struct CollectorTests {
    let plan: Plan
    init() throws { plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp") }

    func fixture(_ policy: ExpiryPolicy = ExpiryPolicy(idleTimeoutNs: 10 * second, activeTimeoutNs: 100 * second)) -> (MemoryFlowTable, CapturingExporter, FlowCollector) {
        let table = MemoryFlowTable(plan: plan)
        let out = CapturingExporter()
        return (table, out, FlowCollector(plan: plan, source: table, exporter: out, policy: policy))
    }

    @Test func pairsDirectionsWithTheFirstSeenAsInitiator() throws {
        let (table, out, collector) = fixture()
        let client = tcpKey("198.18.0.1", 40000, "198.18.0.2", 80)
        let server = tcpKey("198.18.0.2", 80, "198.18.0.1", 40000)
        table.put(server, ["packets": 3, "bytes": 3000, "first_seen": 5 * second + 10, "last_seen": 6 * second, "tcp_flags": 0x12])
        table.put(client, ["packets": 4, "bytes": 400, "first_seen": 5 * second, "last_seen": 6 * second, "tcp_flags": 0x02 | 0x10])
        try collector.flushAll(reason: .forced)
        #expect(out.flows.count == 1)
        let flow = try #require(out.flows.first)
        #expect(flow.forward.key == client)
        #expect(flow.reverse?.key == server)
        #expect(flow.endReason == .forced)
        #expect(flow.id == 1)
        #expect(table.entries.isEmpty)
    }

    @Test func endsOnFinFromBothSidesAfterQuietAndOnRst() throws {
        let (table, out, collector) = fixture()
        let a = tcpKey("198.18.0.1", 40000, "198.18.0.2", 80)
        table.put(a, ["packets": 5, "first_seen": 1 * second, "last_seen": 2 * second, "tcp_flags": 0x11])
        table.put(a.reversed(icmpKeyed: true), ["packets": 5, "first_seen": 1 * second + 1, "last_seen": 2 * second, "tcp_flags": 0x11])
        let r = tcpKey("198.18.0.1", 40001, "198.18.0.2", 80)
        table.put(r, ["packets": 1, "first_seen": 1 * second, "last_seen": 2 * second, "tcp_flags": 0x04])
        let open = tcpKey("198.18.0.1", 40002, "198.18.0.2", 80)
        table.put(open, ["packets": 1, "first_seen": 1 * second, "last_seen": 2 * second, "tcp_flags": 0x01])

        // not yet quiet for a second: the last ACK may still come
        var result = try collector.poll(now: 2 * second + 500_000_000)
        #expect(result.exported == 0)
        result = try collector.poll(now: 3 * second)
        #expect(result.exported == 2)
        #expect(Set(out.flows.map(\.endReason)) == [.endOfFlow])
        #expect(result.active == 1) // FIN from one side only
        #expect(table.entries.count == 1)
    }

    @Test func idleAndActiveTimeouts() throws {
        let (table, out, collector) = fixture()
        let idle = tcpKey("198.18.0.1", 1, "198.18.0.2", 2)
        let long = tcpKey("198.18.0.1", 3, "198.18.0.2", 4)
        table.put(idle, ["packets": 1, "first_seen": 1 * second, "last_seen": 1 * second])
        table.put(long, ["packets": 1, "first_seen": 8 * second, "last_seen": 109 * second])
        try collector.poll(now: 105 * second)
        #expect(out.flows.map(\.endReason) == [.idleTimeout])
        try collector.poll(now: 110 * second)
        #expect(out.flows.map(\.endReason) == [.idleTimeout, .activeTimeout])
        #expect(out.flows.map(\.id) == [1, 2])
        #expect(table.entries.isEmpty)
    }

    @Test func exportTakesTheFinalValuesAtRemoval() throws {
        final class GrowingTable: FlowTableSource {
            let inner: MemoryFlowTable
            init(_ inner: MemoryFlowTable) { self.inner = inner }
            func read() throws -> FlowSnapshot { try inner.read() }
            func remove(key: [UInt8]) throws -> [UInt8]? {
                // a packet arrives between the snapshot and the removal
                let k = FlowKey(bytes: key.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[...]) })
                inner.put(k, ["packets": 2, "first_seen": 1, "last_seen": 2])
                return try inner.remove(key: key)
            }
        }
        let table = MemoryFlowTable(plan: plan)
        table.put(tcpKey("198.18.0.1", 1, "198.18.0.2", 2), ["packets": 1, "first_seen": 1, "last_seen": 1])
        let out = CapturingExporter()
        let collector = FlowCollector(plan: plan, source: GrowingTable(table), exporter: out)
        try collector.flushAll(reason: .forced)
        #expect(collector.decoder.value("packets", in: out.flows[0].forward) == 2)
    }

    @Test func icmpRequestsAndRepliesPair() throws {
        let (table, out, collector) = fixture()
        let request = FlowKey(src: v4("198.18.0.1"), dst: v4("198.18.0.2"), sport: 77, dport: 8 << 8, proto: 1, ipVersion: 4)
        let reply = FlowKey(src: v4("198.18.0.2"), dst: v4("198.18.0.1"), sport: 77, dport: 0, proto: 1, ipVersion: 4)
        let otherPing = FlowKey(src: v4("198.18.0.1"), dst: v4("198.18.0.2"), sport: 78, dport: 8 << 8, proto: 1, ipVersion: 4)
        #expect(request.reversed(icmpKeyed: true) == reply)
        #expect(reply.reversed(icmpKeyed: true) == request)
        table.put(reply, ["packets": 2, "first_seen": 5, "last_seen": 9])
        table.put(request, ["packets": 2, "first_seen": 5, "last_seen": 8])
        table.put(otherPing, ["packets": 1, "first_seen": 6, "last_seen": 6])
        try collector.flushAll(reason: .forced)
        #expect(out.flows.count == 2)
        let paired = try #require(out.flows.first { $0.reverse != nil })
        #expect(paired.forward.key == request) // same first_seen: the request is the initiator
    }
}

@Suite struct FlowKeyTests {
    @Test func bytesRoundTrip() {
        let k = FlowKey(src: v4("198.18.0.1"), dst: IPAddress16([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
                        sport: 1234, dport: 80, proto: 17, ipVersion: 6)
        let b = k.bytes
        #expect(b.count == 40)
        #expect(b[38] == 0 && b[39] == 0)
        #expect(b.withUnsafeBytes { FlowKey(bytes: $0) } == k)
        #expect(k.src.description == "198.18.0.1")
        #expect(k.dst.description == "fd00::2")
    }

    @Test func ipv6TextFollowsRFC5952() {
        func t(_ groups: [UInt16]) -> String {
            IPAddress16.ipv6Text(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
        }
        #expect(t([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]) == "2001:db8::1:0:0:1")
        #expect(t([0, 0, 0, 0, 0, 0, 0, 1]) == "::1")
        #expect(t([0, 0, 0, 0, 0, 0, 0, 0]) == "::")
        #expect(t([0xfe80, 0, 0, 0, 0, 0, 0, 0]) == "fe80::")
        #expect(t([1, 0, 2, 0, 3, 0, 4, 0]) == "1:0:2:0:3:0:4:0")
    }
}

@Suite struct FormatterTests {
    let plan: Plan
    init() throws { plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp") }

    func flow() -> Biflow {
        let decoder = RecordDecoder(plan: plan)
        func record(_ key: FlowKey, _ fields: [String: UInt64]) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            for (k, v) in fields { values[decoder.firstColumn[k]!] = v }
            // a TCP flow: the tcp module's fields have samples
            return FlowRecord(key: key, values: values).sampled(["tcp_flags"], plan: plan)
        }
        let fwd = record(tcpKey("198.18.0.1", 40000, "198.18.0.2", 80), ["packets": 10, "bytes": 1000, "first_seen": 2_000_000, "last_seen": 5_000_000, "tcp_flags": 0x1b])
        let rev = record(tcpKey("198.18.0.2", 80, "198.18.0.1", 40000), ["packets": 8, "bytes": 9000, "first_seen": 2_500_000, "last_seen": 6_000_000, "tcp_flags": 0x13])
        return Biflow(id: 7, forward: fwd, reverse: rev, endReason: .endOfFlow)
    }

    @Test func jsonLinesHaveNProbeNamesAndNumbers() throws {
        let text = FlowFormatter(schema: OutputSchema(plan: plan), format: .json).format([flow()], epochOffsetNs: 1_000_000_000_000)
        #expect(text.hasSuffix("\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(obj["IPV4_SRC_ADDR"] as? String == "198.18.0.1")
        #expect(obj["IPV6_SRC_ADDR"] == nil)
        #expect(obj["L4_DST_PORT"] as? Int == 80)
        #expect(obj["PROTOCOL"] as? Int == 6)
        #expect(obj["IP_PROTOCOL_VERSION"] as? Int == 4)
        #expect(obj["IN_PKTS"] as? Int == 10)
        #expect(obj["OUT_BYTES"] as? Int == 9000)
        #expect(obj["TCP_FLAGS"] as? Int == 0x1b)
        #expect(obj["CLIENT_TCP_FLAGS"] as? Int == 0x1b)
        #expect(obj["SERVER_TCP_FLAGS"] as? Int == 0x13)
        #expect(obj["FLOW_START_MICROSECONDS"] as? Int == 1_000_000_000 + 2_000)
        #expect(obj["FLOW_END_MICROSECONDS"] as? Int == 1_000_000_000 + 6_000)
        #expect(obj["FLOW_DURATION_MICROSECONDS"] as? Int == 4_000)
        #expect(obj["FLOW_END_REASON"] as? String == "end of flow")
        #expect(obj["FLOW_ID"] as? Int == 7)
        #expect(obj["ICMP_TYPE"] == nil)
    }

    @Test func csvHasAHeaderAndOneCellPerColumn() {
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .csv)
        let header = formatter.header().dropLast().split(separator: ",", omittingEmptySubsequences: false)
        let row = formatter.format([flow()], epochOffsetNs: 0).dropLast().split(separator: ",", omittingEmptySubsequences: false)
        #expect(header.count == row.count)
        #expect(header.first == "FLOW_ID")
        #expect(row[header.firstIndex(of: "IN_BYTES")!] == "1000")
        #expect(row[header.firstIndex(of: "IPV6_SRC_ADDR")!] == "")
    }

    @Test func textTableIsReadable() {
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .text)
        let line = formatter.format([flow()], epochOffsetNs: 0)
        #expect(line.contains("198.18.0.1:40000"))
        #expect(line.contains("...AP.SF"))
        #expect(line.contains("end of flow"))
        #expect(FlowFormatter.tcpFlagsText(0x12) == "...A..S.")
        #expect(formatter.header().hasPrefix("FLOW_ID"))
    }

    @Test func textTableShowsICMPAsTypeSlashCodeWithoutPorts() throws {
        // an echo request/reply pair (RFC 792: type 8 code 0 / type 0) and an ICMPv6 one
        // (RFC 4443: 128/129), keyed as the icmp module keys them: identifier in the source port,
        // type × 256 + code in the destination port
        let decoder = RecordDecoder(plan: plan)
        func record(_ key: FlowKey) -> FlowRecord {
            var values = [UInt64](repeating: 0, count: decoder.columns.count)
            values[decoder.firstColumn["packets"]!] = 1
            return FlowRecord(key: key, values: values)
        }
        let v6a = IPAddress16([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        let v6b = IPAddress16([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
        let ping = Biflow(id: 1, forward: record(FlowKey(src: v4("198.18.0.1"), dst: v4("198.18.0.2"), sport: 0x1234, dport: 8 << 8, proto: 1, ipVersion: 4)),
                          reverse: record(FlowKey(src: v4("198.18.0.2"), dst: v4("198.18.0.1"), sport: 0x1234, dport: 0, proto: 1, ipVersion: 4)),
                          endReason: .idleTimeout)
        let unreachable = Biflow(id: 2, forward: record(FlowKey(src: v4("198.18.0.2"), dst: v4("198.18.0.1"), sport: 0, dport: 3 << 8 | 3, proto: 1, ipVersion: 4)),
                                 reverse: nil, endReason: .idleTimeout)
        let ping6 = Biflow(id: 3, forward: record(FlowKey(src: v6a, dst: v6b, sport: 7, dport: 128 << 8, proto: 58, ipVersion: 6)),
                           reverse: nil, endReason: .idleTimeout)
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .text)
        let header = formatter.header().split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let rows = formatter.format([ping, unreachable, ping6], epochOffsetNs: 0).split(separator: "\n")
        #expect(rows.count == 3)
        func cells(_ row: Substring) -> [String: String] {
            let words = row.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(header.dropLast(), words))
        }
        let expected: [(src: String, dst: String, type: String)] = [("198.18.0.1", "198.18.0.2", "8/0"), ("198.18.0.2", "198.18.0.1", "3/3"),
                                                                    ("fd00::1", "fd00::2", "128/0")]
        for (row, want) in zip(rows, expected) {
            let c = cells(row)
            #expect(c["SRC"] == want.src && c["DST"] == want.dst && c["ICMP_TYPE"] == want.type, "\(row)")
        }
        #expect(!rows.contains { $0.contains(":2048") || $0.contains(":4660") }, "ICMP fields shown as ports")
        // other protocols keep address:port and no ICMP type
        let tcp = cells(formatter.format([flow()], epochOffsetNs: 0).split(separator: "\n")[0])
        #expect(tcp["SRC"] == "198.18.0.1:40000" && tcp["DST"] == "198.18.0.2:80" && tcp["ICMP_TYPE"] == "-")
    }

    @Test func jsonStringsAreEscaped() {
        #expect(FlowFormatter.jsonString("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}
