import Foundation
import Testing
@testable import FlowgenCore

/// Test vector files (`<module>/tests/*.yaml`): packet descriptions become the frames they say,
/// mistakes are reported at their line, and the check names each field that differs.
@Suite struct TestVectorTests {
    static let head = """
    flow: { src: 198.18.0.1, dst: 198.18.0.2, proto: tcp, sport: 40000, dport: 80 }
    packets:

    """

    func frames(_ yaml: String) throws -> [(timeNs: UInt64, frame: [UInt8])] {
        let vector = try TestVector.parse(yaml: yaml, file: "v.yaml")
        guard case .packets(let p) = vector.input else { Issue.record("no packets"); return [] }
        return p
    }

    @Test func timesAreExactNanosecondsFromTheStart() {
        #expect(PacketDescription.nanoseconds("0") == 0)
        #expect(PacketDescription.nanoseconds("0.0015") == 1_500_000)
        #expect(PacketDescription.nanoseconds("2.000000001") == 2_000_000_001)
        #expect(PacketDescription.nanoseconds(".5") == 500_000_000)
        // more than ns, negative, exponent: refused, not rounded
        #expect(PacketDescription.nanoseconds("0.0000000001") == nil)
        #expect(PacketDescription.nanoseconds("-1") == nil)
        #expect(PacketDescription.nanoseconds("1e3") == nil)
    }

    @Test func aDescribedTCPSegmentIsTheFrameItSays() throws {
        let p = try frames(Self.head + """
          - { t: 0.25, dir: rev, flags: PA, seq: 7, ack: 9, window: 512, len: 100, ttl: 5, tos: 0x2e, text: "hi" }
        expect:
          forward: { packets: 1 }
        """)
        #expect(p.count == 1)
        let f = p[0].frame
        #expect(p[0].timeNs == TestVector.defaultStart * 1_000_000_000 + 250_000_000)
        // Ethernet 14 + the IP length asked for; IPv4 header fields at their RFC 791 offsets
        #expect(f.count == 14 + 100)
        #expect(Array(f[12..<14]) == [0x08, 0x00])
        #expect(f[15] == 0x2e && Int(f[16]) << 8 | Int(f[17]) == 100 && f[22] == 5 && f[23] == 6)
        // rev: the responder sends, so addresses and ports are swapped
        #expect(Array(f[26..<30]) == [198, 18, 0, 2] && Array(f[30..<34]) == [198, 18, 0, 1])
        #expect(Int(f[34]) << 8 | Int(f[35]) == 80 && Int(f[36]) << 8 | Int(f[37]) == 40000)
        #expect(Array(f[38..<42]) == [0, 0, 0, 7] && Array(f[42..<46]) == [0, 0, 0, 9])
        #expect(f[47] == 0x18 && Int(f[48]) << 8 | Int(f[49]) == 512)
        // payload "hi", then zeros up to the length
        #expect(Array(f[54..<56]) == Array("hi".utf8) && f[56...].allSatisfy { $0 == 0 })
    }

    @Test func optionsAndIPv6ExtensionHeadersTakeTheirBytes() throws {
        let p = try frames("""
        flow: { src: "fd00::1", dst: "fd00::2", proto: tcp, sport: 1, dport: 2 }
        packets:
          - { t: 0, flags: S, options: [mss=1460, nop, ws=7, sack=1-2], ext: [hop, frag] }
        expect:
          forward: { packets: 1 }
        """)
        let f = p[0].frame
        // 40 IPv6 + 8 + 8 extension headers, then TCP with 4 + 1 + 3 + 10 = 18 option bytes padded to 20
        #expect(f.count == 14 + 40 + 16 + 40)
        #expect(f[14 + 6] == 0 && f[14 + 40] == 44 && f[14 + 48] == 6)
        let tcp = 14 + 56
        #expect(f[tcp + 12] >> 4 == 10)
        #expect(Array(f[(tcp + 20)..<(tcp + 28)]) == [2, 4, 0x05, 0xb4, 1, 3, 3, 7])
        #expect(Array(f[(tcp + 28)..<(tcp + 30)]) == [5, 10])
    }

    @Test func mistakesAreReportedAtTheirLine() {
        func error(_ yaml: String) -> String {
            do {
                _ = try TestVector.parse(yaml: yaml, file: "v.yaml")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let unknownKey = error(Self.head + "  - { t: 0, colour: red }\nexpect: { forward: { packets: 1 } }\n")
        #expect(unknownKey.hasPrefix("v.yaml:3: error: unknown packet key 'colour'"), "\(unknownKey)")
        let short = error(Self.head + "  - { t: 0, len: 30 }\nexpect: { forward: { packets: 1 } }\n")
        #expect(short.contains("v.yaml:3:") && short.contains("len 30 is less than the headers and payload: 20 IP + 20 transport + 0 payload = 40 bytes"), "\(short)")
        let flag = error(Self.head + "  - { t: 0, flags: SX }\nexpect: { forward: { packets: 1 } }\n")
        #expect(flag.contains("`flags` letter 'X' is not a TCP flag"), "\(flag)")
        let order = error(Self.head + "  - { t: 1 }\n  - { t: 0.5 }\nexpect: { forward: { packets: 1 } }\n")
        #expect(order.hasPrefix("v.yaml:4: error:") && order.contains("before the packet above it"), "\(order)")
        let noExpect = error(Self.head + "  - { t: 0 }\n")
        #expect(noExpect.contains("missing `expect:`"), "\(noExpect)")
        let value = error(Self.head + "  - { t: 0 }\nexpect:\n  forward: { packets: lots }\n")
        #expect(value.hasPrefix("v.yaml:5: error: field 'packets': 'lots' is not a value"), "\(value)")
        let escape = error("capture: ../x.pcap\nexpect: { forward: { packets: 1 } }\n")
        #expect(escape.contains("`capture` must name a file in the vector's own folder"), "\(escape)")
    }

    /// A plan of the built-in `pkt_len` and a flow whose records hold known values.
    func pktLenFlow(forwardMin: UInt64) throws -> (VectorCheck, Biflow) {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "pkt_len")
        let decoder = RecordDecoder(plan: plan)
        func record(_ values: [String: UInt64]) -> [UInt64] {
            var v = [UInt64](repeating: 0, count: decoder.columns.count)
            for (name, value) in values { v[decoder.firstColumn[name]!] = value }
            return v
        }
        let key = FlowKey(src: ipv4("198.18.0.1"), dst: ipv4("198.18.0.2"), sport: 40000, dport: 5000, proto: 17, ipVersion: 4)
        let back = FlowKey(src: ipv4("198.18.0.2"), dst: ipv4("198.18.0.1"), sport: 5000, dport: 40000, proto: 17, ipVersion: 4)
        let flow = Biflow(id: 1, forward: FlowRecord(key: key, values: record(["packets": 2, "ip_len_min": forwardMin, "ip_len_max": 300])).sampled(["ip_len_min", "ip_len_max"], plan: plan),
                          reverse: FlowRecord(key: back, values: record(["packets": 1, "ip_len_min": 28, "ip_len_max": 28])).sampled(["ip_len_min", "ip_len_max"], plan: plan),
                          endReason: .endOfCapture)
        return (VectorCheck(plan: plan), flow)
    }

    @Test func theCheckNamesEachDifferingFieldWithBothValues() throws {
        let vector = try TestVector.parse(yaml: Self.head + """
          - { t: 0 }
        expect:
          key: { sport: 40000 }
          forward: { ip_len_min: 100, ip_len_max: 300, packets: 2 }
          reverse: { ip_len_min: 28 }
          combined: { ip_len_min: 28, ip_len_max: 300 }
        """, file: "v.yaml")
        let (check, right) = try pktLenFlow(forwardMin: 100)
        #expect(try check.compare(vector, flows: [right]).isEmpty)
        let (_, wrong) = try pktLenFlow(forwardMin: 99)
        #expect(try check.compare(vector, flows: [wrong]) == ["flow 1 forward ip_len_min (SRC_MIN_IP_PKT_LEN): expected 100, got 99"])
        // a flow too many, and a key that matches none
        let extra = try check.compare(vector, flows: [right, right])
        #expect(extra.count == 1 && extra[0].hasPrefix("2 flows exported, 1 expected; not matched: 198.18.0.1:40000"), "\(extra)")
        var other = right
        other.forward.key.sport = 1
        let none = try check.compare(vector, flows: [other])
        #expect(none.first == "flow 1 (line 5): no exported flow with key sport=40000", "\(none)")
    }

    @Test func aFieldNoSelectedModuleHasIsAVectorError() throws {
        let vector = try TestVector.parse(yaml: Self.head + "  - { t: 0 }\nexpect:\n  forward: { ip_len_mn: 1 }\n", file: "v.yaml")
        let (check, _) = try pktLenFlow(forwardMin: 1)
        #expect(throws: VectorError.self) { try check.validate(vector) }
        do { try check.validate(vector) } catch {
            #expect("\(error)".hasPrefix("v.yaml:5: error: no selected module has a field 'ip_len_mn'; did you mean 'ip_len_min'?"), "\(error)")
        }
    }

    @Test func realsMatchToNineDigitsAndAbsentIsAValue() {
        #expect(VectorCheck.same(.real(16.666666666666668), .real(50.0 / 3)))
        #expect(!VectorCheck.same(.real(16.67), .real(50.0 / 3)))
        #expect(VectorCheck.same(.real(0), .number(0)) && VectorCheck.same(.number(7), .real(7)))
        #expect(!VectorCheck.same(.absent, .number(0)) && VectorCheck.same(.absent, .absent))
        #expect(!VectorCheck.same(.elements([.number(1), .number(2)]), .elements([.number(1)])))
    }
}
