import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// Synthetic biflows of a plan, for IPFIX tests that need no kernel.
struct IPFIXFixture {
    let plan: Plan
    let decoder: RecordDecoder
    /// Record time (monotonic ns) + this = Unix time in ns; chosen so flows are "a few seconds ago".
    let epochOffsetNs: Int64

    init(plan: Plan) {
        self.plan = plan
        decoder = RecordDecoder(plan: plan)
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        // whole milliseconds, so expected values are exact
        epochOffsetNs = (now - 100 * 1_000_000_000) / 1_000_000 * 1_000_000
    }

    /// The built-in modules, planned.
    init(features: String) throws {
        self.init(plan: try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: features))
    }

    /// One direction with the given field values (by name; histogram bins as name[i]); others 0.
    /// The fields given count as sampled (their presence bits set, as the kernel sets them for a
    /// direction that had packets of their modules); the others have no sample.
    func record(_ key: FlowKey, _ fields: [String: UInt64]) -> FlowRecord {
        var values = [UInt64](repeating: 0, count: decoder.columns.count)
        for (name, v) in fields {
            if let open = name.firstIndex(of: "["), let bin = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) {
                values[decoder.firstColumn[String(name[..<open])]! + bin] = v
            } else {
                values[decoder.firstColumn[name]!] = v
            }
        }
        let sampled = fields.keys.map { name in name.firstIndex(of: "[").map { String(name[..<$0]) } ?? name }
        return FlowRecord(key: key, values: values).sampled(sampled, plan: plan)
    }

    /// Unix milliseconds of a record time.
    func ms(_ monotonicNs: UInt64) -> UInt64 { UInt64(Int64(monotonicNs) + epochOffsetNs) / 1_000_000 }
}

func ipv4(_ s: String) -> IPAddress16 { IPAddress16(ipv4: s.split(separator: ".").map { UInt8($0)! }) }
func ipv6(_ s: String) -> IPAddress16 { IPAddress16(PacketBuilder.IPv6Address(parsing: s)!.bytes) }

/// A sample of flows every test sends: a TCP biflow (v4), a UDP one-way flow (v4), an ICMP echo
/// biflow (v4), a TCP biflow over IPv6 and an ICMPv6 echo biflow.
func sampleFlows(_ fx: IPFIXFixture) -> [Biflow] {
    let s: UInt64 = 1_000_000_000
    let tcpC = FlowKey(src: ipv4("127.0.0.1"), dst: ipv4("127.0.0.2"), sport: 40001, dport: 80, proto: 6, ipVersion: 4)
    let tcpS = FlowKey(src: ipv4("127.0.0.2"), dst: ipv4("127.0.0.1"), sport: 80, dport: 40001, proto: 6, ipVersion: 4)
    let udp = FlowKey(src: ipv4("127.0.0.1"), dst: ipv4("127.0.0.3"), sport: 5555, dport: 9999, proto: 17, ipVersion: 4)
    let echo = FlowKey(src: ipv4("127.0.0.1"), dst: ipv4("127.0.0.2"), sport: 0x1234, dport: 8 << 8, proto: 1, ipVersion: 4)
    let reply = FlowKey(src: ipv4("127.0.0.2"), dst: ipv4("127.0.0.1"), sport: 0x1234, dport: 0, proto: 1, ipVersion: 4)
    let v6C = FlowKey(src: ipv6("::1"), dst: ipv6("::1"), sport: 50000, dport: 443, proto: 6, ipVersion: 6)
    let v6S = FlowKey(src: ipv6("::1"), dst: ipv6("::1"), sport: 443, dport: 50000, proto: 6, ipVersion: 6)
    let echo6 = FlowKey(src: ipv6("::1"), dst: ipv6("::1"), sport: 7, dport: 128 << 8, proto: 58, ipVersion: 6)
    let reply6 = FlowKey(src: ipv6("::1"), dst: ipv6("::1"), sport: 7, dport: 129 << 8, proto: 58, ipVersion: 6)
    func r(_ k: FlowKey, _ p: UInt64, _ b: UInt64, _ first: UInt64, _ last: UInt64, flags: UInt64 = 0) -> FlowRecord {
        var f: [String: UInt64] = ["packets": p, "bytes": b, "first_seen": first, "last_seen": last]
        if fx.decoder.firstColumn["tcp_flags"] != nil { f["tcp_flags"] = flags }
        // the tcp module applies to TCP flows only: the kernel marks its fields sampled there
        return k.proto == 6 ? fx.record(k, f).sampled(["tcp_flags"], plan: fx.plan) : fx.record(k, f)
    }
    return [
        Biflow(id: 1, forward: r(tcpC, 10, 1_234, 5 * s + 1_000_000, 9 * s, flags: 0x1b),
               reverse: r(tcpS, 8, 56_789, 5 * s + 2_000_000, 9 * s + 500_000_000, flags: 0x13), endReason: .endOfFlow),
        Biflow(id: 2, forward: r(udp, 5, 640, 6 * s, 7 * s), reverse: nil, endReason: .idleTimeout),
        Biflow(id: 3, forward: r(echo, 3, 252, 6 * s, 8 * s), reverse: r(reply, 3, 252, 6 * s + 100_000, 8 * s + 100_000), endReason: .forced),
        Biflow(id: 4, forward: r(v6C, 4, 400, 7 * s, 8 * s, flags: 0x02), reverse: r(v6S, 3, 3_000, 7 * s + 10, 8 * s + 10, flags: 0x12),
               endReason: .activeTimeout),
        Biflow(id: 5, forward: r(echo6, 2, 208, 7 * s, 7 * s + 300_000_000), reverse: r(reply6, 2, 208, 7 * s + 1, 7 * s + 300_000_001),
               endReason: .endOfCapture),
    ]
}

@Suite struct IPFIXTemplateTests {
    typealias Spec = IPFIXFieldSpecifier
    static let rev = FlowgenIPFIX.reverseEnterpriseNumber
    static let pen = FlowgenIPFIX.privateEnterpriseNumber

    /// A base-like module, so the expected templates do not move when the built-in modules grow.
    static let base = FeatureModule(name: "base", fields: [
        FieldSpec(name: "packets", type: .u64, aggregation: .sum, value: "pkt->segs", json: DirectionalNames(forward: ["IN_PKTS"], reverse: ["OUT_PKTS"]),
                  ipfix: IPFIXElement(id: 2, name: "packetDeltaCount"), unit: .packets),
        FieldSpec(name: "bytes", type: .u64, aggregation: .sum, value: "pkt->ip_bytes", json: DirectionalNames(forward: ["IN_BYTES"], reverse: ["OUT_BYTES"]),
                  ipfix: IPFIXElement(id: 1), unit: .octets),
        FieldSpec(name: "first_seen", type: .u64, aggregation: .first, value: "pkt->now", json: DirectionalNames(combined: ["FLOW_START_MICROSECONDS"]),
                  ipfix: IPFIXElement(id: 152), unit: .timestamp),
        FieldSpec(name: "last_seen", type: .u64, aggregation: .last, value: "pkt->now", json: DirectionalNames(combined: ["FLOW_END_MICROSECONDS"]),
                  ipfix: IPFIXElement(id: 153), unit: .timestamp),
    ], always: true)

    static let tcp = FeatureModule(name: "tcp", fields: [
        FieldSpec(name: "tcp_flags", type: .u32, aggregation: .or, value: "pkt->tcp_flags",
                  json: DirectionalNames(forward: ["CLIENT_TCP_FLAGS"], reverse: ["SERVER_TCP_FLAGS"], combined: ["TCP_FLAGS"]),
                  ipfix: IPFIXElement(id: 6), unit: .flags),
    ])

    /// Fields without IANA elements: a scalar, a histogram, a combined-only value, a field whose
    /// combined value cannot be derived, a field with no output name, and a min with a "none" value.
    static let research: FeatureModule = {
        var minWin = FieldSpec(name: "win_min", type: .u16, aggregation: .min, value: "pkt->tcp_window",
                               json: DirectionalNames(forward: ["WIN_MIN_IN"], reverse: ["WIN_MIN_OUT"]))
        minWin.none = 0xffff
        return FeatureModule(name: "research", fields: [
            FieldSpec(name: "jitter_ns", type: .u64, aggregation: .sum, value: "0", json: DirectionalNames(forward: ["JITTER_IN"], reverse: ["JITTER_OUT"]),
                      unit: .nanoseconds),
            FieldSpec(name: "size_hist", type: .u32, count: 3, aggregation: .histogram(bins: 3), value: "0",
                      json: DirectionalNames(forward: ["S0_IN", "S1_IN", "S2_IN"], reverse: ["S0_OUT", "S1_OUT", "S2_OUT"])),
            FieldSpec(name: "ttl_min", type: .u8, aggregation: .min, value: "pkt->ttl", json: DirectionalNames(combined: ["MIN_TTL"]),
                      ipfix: IPFIXElement(id: 52)),
            FieldSpec(name: "seen_at", type: .u64, aggregation: .first, value: "pkt->now", json: DirectionalNames(forward: ["SEEN_IN"], combined: ["SEEN"]),
                      unit: .timestamp),
            FieldSpec(name: "scratch", type: .u64, aggregation: .last, value: "0"),
            minWin,
        ])
    }()

    func plan(_ modules: [FeatureModule], _ spec: String) throws -> Plan {
        try Planner().plan(FeatureSelection(spec, available: modules))
    }

    @Test func templatesOfKeyAndBaseFieldsAreExact() throws {
        let icmp = FeatureModule(name: "icmp", defines: ["FG_WITH_ICMP_KEY"])
        let schema = try IPFIXTemplateBuilder(plan: plan([Self.base, Self.tcp, icmp], "tcp,icmp")).build()
        #expect(schema.templates.map(\.id) == [256, 257, 258, 259])
        let key4 = [Spec(id: 8, length: 4), Spec(id: 12, length: 4), Spec(id: 7, length: 2), Spec(id: 11, length: 2), Spec(id: 4, length: 1),
                    Spec(id: 32, length: 2), Spec(id: 136, length: 1), Spec(id: 239, length: 1), Spec(id: 148, length: 8)]
        let fields = [Spec(id: 2, length: 8, enterprise: Self.rev), Spec(id: 2, length: 8),
                      Spec(id: 1, length: 8, enterprise: Self.rev), Spec(id: 1, length: 8),
                      Spec(id: 152, length: 8), Spec(id: 153, length: 8),
                      Spec(id: 6, length: 2, enterprise: Self.rev), Spec(id: 6, length: 2)]
        #expect(schema.templates[0].fields.map(\.specifier) == key4 + fields)
        var key6 = key4
        key6[0] = Spec(id: 27, length: 16); key6[1] = Spec(id: 28, length: 16); key6[5] = Spec(id: 139, length: 2)
        #expect(schema.templates[1].fields.map(\.specifier) == key6 + fields)
        #expect(schema.templates[2].fields.map(\.specifier) == key4 + fields.filter { !$0.isReverse })
        #expect(schema.templates[3].fields.map(\.specifier) == key6 + fields.filter { !$0.isReverse })
        #expect(schema.templates[0].recordLength == 4 + 4 + 2 + 2 + 1 + 2 + 1 + 1 + 8 + 8 * 6 + 2 * 2)
        #expect(schema.templates[0].fields.map(\.name).contains("reverseOctetDeltaCount"))
        #expect(schema.templates[0].fields.first { $0.specifier == Spec(id: 6, length: 2, enterprise: Self.rev) }?.jsonName == "SERVER_TCP_FLAGS")
        // without the icmp module the type/code element is not there
        let plain = try IPFIXTemplateBuilder(plan: plan([Self.base], "")).build()
        #expect(!plain.templates[0].fields.contains { $0.specifier.id == 32 })
    }

    @Test func fieldsWithoutIANAElementsGetFlowgenIDsInPlanOrder() throws {
        let schema = try IPFIXTemplateBuilder(plan: plan([Self.base, Self.research], "research")).build()
        let moduleFields = schema.templates[0].fields.filter { $0.planField != nil && !["packets", "bytes", "first_seen", "last_seen"].contains($0.planField!) }
        let specs = moduleFields.map(\.specifier)
        let r = FlowgenIPFIX.enterpriseReverseBit
        #expect(specs == [
            Spec(id: 1 | r, length: 8, enterprise: Self.pen), Spec(id: 1, length: 8, enterprise: Self.pen),                    // jitter_ns
            Spec(id: 2 | r, length: 4, enterprise: Self.pen), Spec(id: 3 | r, length: 4, enterprise: Self.pen), Spec(id: 4 | r, length: 4, enterprise: Self.pen),
            Spec(id: 2, length: 4, enterprise: Self.pen), Spec(id: 3, length: 4, enterprise: Self.pen), Spec(id: 4, length: 4, enterprise: Self.pen), // size_hist bins
            Spec(id: 52, length: 1),                                                                                           // ttl_min combined → minimumTTL
            Spec(id: 5, length: 8, enterprise: Self.pen), Spec(id: 6, length: 8, enterprise: Self.pen),                         // seen_at forward, then combined
            Spec(id: 7 | r, length: 2, enterprise: Self.pen), Spec(id: 7, length: 2, enterprise: Self.pen),                     // win_min
        ])
        #expect(moduleFields.map(\.name) == ["reverseJitterNs", "jitterNs", "reverseSizeHist0", "reverseSizeHist1", "reverseSizeHist2",
                                             "sizeHist0", "sizeHist1", "sizeHist2", "minimumTTL", "seenAt", "seenAt", "reverseWinMin", "winMin"])
        #expect(moduleFields.map { $0.jsonName ?? "" } == ["JITTER_OUT", "JITTER_IN", "S0_OUT", "S1_OUT", "S2_OUT", "S0_IN", "S1_IN", "S2_IN",
                                                            "MIN_TTL", "SEEN_IN", "SEEN", "WIN_MIN_OUT", "WIN_MIN_IN"])
        #expect(!schema.templates[0].fields.contains { $0.planField == "scratch" }, "a field without output names is not exported")
        // the same feature set always gets the same ids
        #expect(try IPFIXTemplateBuilder(plan: plan([Self.base, Self.research], "research")).build() == schema)
        let listing = IPFIXListing(schema: schema).text()
        #expect(listing.contains("size_hist[2]") && listing.contains("\(Self.pen)") && listing.contains("unregistered"))
    }

    @Test func enterpriseElementsKeepTheirNumbersAndReverseByTheEnterprisesRules() throws {
        let vendor = FeatureModule(name: "vendor", fields: [
            FieldSpec(name: "retrans", type: .u64, aggregation: .sum, value: "0",
                      json: DirectionalNames(forward: ["RETRANSMITTED_IN_PKTS"], reverse: ["RETRANSMITTED_OUT_PKTS"]),
                      ipfix: IPFIXElement(id: 109, enterprise: 35632, name: "RETRANSMITTED_IN_PKTS")),
            FieldSpec(name: "other", type: .u64, aggregation: .sum, value: "0", json: DirectionalNames(forward: ["O_IN"], reverse: ["O_OUT"]),
                      ipfix: IPFIXElement(id: 500, enterprise: 12345, name: "otherThing")),
            FieldSpec(name: "too_high", type: .u64, aggregation: .sum, value: "0", json: DirectionalNames(forward: ["H_IN"]),
                      ipfix: IPFIXElement(id: 0x5000, enterprise: 12345)),
        ])
        let schema = try IPFIXTemplateBuilder(plan: plan([Self.base, vendor], "vendor")).build()
        let fields = schema.templates[0].fields.filter { ["retrans", "other", "too_high"].contains($0.planField ?? "") }
        // ntop's element is 4 octets and has its own _OUT element; another enterprise's reverse sets bit 0x4000
        #expect(fields.map(\.specifier) == [Spec(id: 110, length: 4, enterprise: 35632), Spec(id: 109, length: 4, enterprise: 35632),
                                            Spec(id: 500 | 0x4000, length: 8, enterprise: 12345), Spec(id: 500, length: 8, enterprise: 12345),
                                            Spec(id: 0x5000, length: 8, enterprise: 12345)])
        #expect(fields.map(\.name) == ["RETRANSMITTED_OUT_PKTS", "RETRANSMITTED_IN_PKTS", "reverseOtherThing", "otherThing", "element20480"])
        // an enterprise id with bit 0x4000 set leaves no room for a reverse
        let bad = FeatureModule(name: "bad", fields: [
            FieldSpec(name: "x", type: .u64, aggregation: .sum, value: "0", json: DirectionalNames(forward: ["X_IN"], reverse: ["X_OUT"]),
                      ipfix: IPFIXElement(id: 0x5000, enterprise: 12345)),
        ])
        #expect(throws: IPFIXError.elementIDOutOfRange(field: "x", id: 0x5000)) {
            try IPFIXTemplateBuilder(plan: plan([Self.base, bad], "bad")).build()
        }
    }

    @Test func recordsCarryKeyCountersTimeAndReverseValues() throws {
        let icmp = FeatureModule(name: "icmp", defines: ["FG_WITH_ICMP_KEY"])
        let fx = IPFIXFixture(plan: try plan([Self.base, Self.tcp, icmp], "tcp,icmp"))
        let schema = try IPFIXTemplateBuilder(plan: fx.plan).build()
        let flows = sampleFlows(fx)
        var encoder = IPFIXMessageEncoder(observationDomainID: 42, maxMessageSize: 1472)
        let messages = encoder.encode(templates: schema.templates, records: flows.map { schema.record(for: $0, epochOffsetNs: fx.epochOffsetNs) },
                                      exportTime: 1_700_000_000)
        var decoder = IPFIXMessageDecoder()
        let records = try decoder.decodeStream(messages.flatMap(\.bytes)).flatMap(\.records)
        #expect(records.map(\.templateID) == [256, 258, 256, 257, 257])
        let tcp = records[0]
        #expect(tcp.bytes(8) == [127, 0, 0, 1] && tcp.bytes(12) == [127, 0, 0, 2])
        #expect(tcp.unsigned(7) == 40001 && tcp.unsigned(11) == 80 && tcp.unsigned(4) == 6 && tcp.unsigned(32) == 0)
        #expect(tcp.unsigned(2) == 10 && tcp.unsigned(2, enterprise: Self.rev) == 8)
        #expect(tcp.unsigned(1) == 1_234 && tcp.unsigned(1, enterprise: Self.rev) == 56_789)
        #expect(tcp.unsigned(6) == 0x1b && tcp.unsigned(6, enterprise: Self.rev) == 0x13)
        let s: UInt64 = 1_000_000_000
        #expect(tcp.unsigned(152) == fx.ms(5 * s + 1_000_000) && tcp.unsigned(153) == fx.ms(9 * s + 500_000_000))
        #expect(tcp.unsigned(136) == 3 && tcp.unsigned(239) == 1 && tcp.unsigned(148) == 1)
        let udp = records[1]
        #expect(udp.unsigned(2) == 5 && udp.unsigned(2, enterprise: Self.rev) == nil && udp.unsigned(136) == 1)
        let echo = records[2]
        #expect(echo.unsigned(32) == 8 << 8 && echo.unsigned(11) == 8 << 8 && echo.unsigned(7) == 0x1234 && echo.unsigned(136) == 4)
        let v6 = records[3]
        #expect(v6.bytes(27) == [UInt8](repeating: 0, count: 15) + [1] && v6.unsigned(136) == 2)
        #expect(v6.unsigned(139) == 0 && records[4].unsigned(139) == 128 << 8)
        #expect(records[4].unsigned(136) == 3, "end of capture is exported as end of flow detected")
        // the same values the JSON output shows
        let json = OutputSchema(plan: fx.plan)
        let values = json.values(of: flows[0], epochOffsetNs: fx.epochOffsetNs)
        let byName = Dictionary(uniqueKeysWithValues: zip(json.columns.map(\.name), values))
        #expect(byName["FLOW_START_MICROSECONDS"] == .number(tcp.unsigned(152)! * 1000))
        #expect(byName["OUT_BYTES"] == .number(tcp.unsigned(1, enterprise: Self.rev)!))
    }

    @Test func absentValuesAreZeroAndTimeFollowsTheElementType() throws {
        var micro = FieldSpec(name: "syn_time", type: .u64, aggregation: .first, value: "pkt->now",
                              json: DirectionalNames(forward: ["SYN_IN"], reverse: ["SYN_OUT"]), ipfix: IPFIXElement(id: 154), unit: .timestamp)
        micro.location = "test"
        let timing = FeatureModule(name: "timing", fields: [micro])
        let fx = IPFIXFixture(plan: try plan([Self.base, Self.research, timing], "research,timing"))
        let schema = try IPFIXTemplateBuilder(plan: fx.plan).build()
        let k = FlowKey(src: ipv4("127.0.0.1"), dst: ipv4("127.0.0.2"), sport: 1, dport: 2, proto: 6, ipVersion: 4)
        let t: UInt64 = 3_000_000_000 + 123_456_789
        let flow = Biflow(id: 9, forward: fx.record(k, ["win_min": 0xffff, "seen_at": t, "syn_time": t, "first_seen": t, "last_seen": t, "ttl_min": 64]),
                          reverse: fx.record(k, ["win_min": 512, "ttl_min": 60]), endReason: .forced)
        var decoder = IPFIXMessageDecoder()
        var encoder = IPFIXMessageEncoder(observationDomainID: 0, maxMessageSize: 1472)
        let m = encoder.encode(templates: schema.templates, records: [schema.record(for: flow, epochOffsetNs: fx.epochOffsetNs)], exportTime: 0)
        let rec = try #require(try decoder.decodeStream(m.flatMap(\.bytes)).flatMap(\.records).first)
        #expect(rec.unsigned(7, enterprise: Self.pen) == 0, "win_min forward has no sample: 0")
        #expect(rec.unsigned(7 | FlowgenIPFIX.enterpriseReverseBit, enterprise: Self.pen) == 512)
        #expect(rec.unsigned(52) == 60, "minimumTTL combines both directions")
        let epochNs = UInt64(Int64(t) + fx.epochOffsetNs)
        #expect(rec.unsigned(5, enterprise: Self.pen) == epochNs / 1000, "flowgen's own time elements carry epoch µs like JSON")
        // dateTimeMicroseconds: NTP seconds since 1900, fraction with the low 11 bits zero
        let ntp = try #require(rec.unsigned(154))
        #expect(ntp >> 32 == epochNs / 1_000_000_000 + 2_208_988_800)
        #expect(ntp & 0x7ff == 0)
        let fraction = Double(ntp & 0xffff_ffff) / 4_294_967_296
        #expect(abs(fraction - Double(epochNs % 1_000_000_000) / 1e9) < 2e-6)
    }

    @Test func builtInModulesMapToIANAElements() throws {
        let fx = try IPFIXFixture(features: "all")
        let schema = try IPFIXTemplateBuilder(plan: fx.plan).build()
        let specs = Set(schema.templates[0].fields.map(\.specifier))
        for s in [Spec(id: 1, length: 8), Spec(id: 1, length: 8, enterprise: Self.rev), Spec(id: 2, length: 8), Spec(id: 2, length: 8, enterprise: Self.rev),
                  Spec(id: 152, length: 8), Spec(id: 153, length: 8), Spec(id: 6, length: 2), Spec(id: 6, length: 2, enterprise: Self.rev),
                  Spec(id: 32, length: 2), Spec(id: 136, length: 1), Spec(id: 148, length: 8)] {
            #expect(specs.contains(s), "\(s)")
        }
        // flowgen's ids start at 1 and stay below the reverse bit; its reverses are its ids | 0x4000
        for t in schema.templates {
            for f in t.fields where f.specifier.enterprise == Self.pen {
                #expect(f.specifier.id & 0x3fff >= 1 && f.specifier.isReverse == (f.source.direction == .reverse))
            }
        }
        let listing = IPFIXListing(schema: schema).text()
        #expect(listing.contains("reverseOctetDeltaCount") && listing.contains("OUT_BYTES"))
        #expect(listing.contains("sourceIPv6Address") && listing.contains("IPv6 only"))
    }
}
