import Testing
@testable import FlowgenCore

/// The 48-byte flow key of the `tunnel` feature in userland: decoding, reversal, pairing words and
/// the replay's flow hash of tunnelled frames.
@Suite struct TunnelKeyTests {
    static func key(tunnel id: UInt32, type: UInt8) -> FlowKey {
        var k = FlowKey(src: IPAddress16(ipv4: [10, 0, 0, 1]), dst: IPAddress16(ipv4: [10, 0, 0, 2]), sport: 1111, dport: 2222, proto: 17, ipVersion: 4)
        (k.hasTunnel, k.tunnelID, k.tunnelType) = (true, id, type)
        return k
    }

    @Test func aTunnelKeyRoundTripsThroughItsFortyEightBytes() {
        let k = Self.key(tunnel: 0x00AB_CDEF, type: 1)
        let bytes = k.bytes
        #expect(bytes.count == FlowKey.tunnelByteSize)
        // struct fg_flow_key: tunnel_id (little-endian u32) at 40, tunnel_type at 44, padding zero
        #expect(Array(bytes[40..<48]) == [0xEF, 0xCD, 0xAB, 0x00, 1, 0, 0, 0])
        #expect(bytes.withUnsafeBytes { FlowKey(bytes: $0) } == k)
        let r = k.reversed(icmpKeyed: false)
        #expect(r.tunnelID == k.tunnelID && r.tunnelType == 1 && r.hasTunnel && r.src == k.dst && r.sport == 2222)
        // a 40-byte key has no tunnel and writes 40 bytes
        let plain = FlowKey(src: k.src, dst: k.dst, sport: 1, dport: 2, proto: 6, ipVersion: 4)
        #expect(plain.bytes.count == FlowKey.byteSize && !plain.hasTunnel)
        #expect(FlowKey.byteSize(defines: ["FG_WITH_TUNNEL"]) == 48 && FlowKey.byteSize(defines: ["FG_WITH_ICMP_KEY"]) == 40)
    }

    @Test func pairingWordsKeepTheTunnelApart() {
        let a = Self.key(tunnel: 1, type: 1), b = Self.key(tunnel: 2, type: 1)
        func words(_ k: FlowKey) -> FlowPairing.Words { k.bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!, keySize: 48) } }
        // the reverse of a's words is the words of a's reverse, tunnel included, and hashes alike
        #expect(words(a).reversed(icmpKeyed: false) == words(a.reversed(icmpKeyed: false)))
        #expect(FlowPairing.hash(words(a), icmpKeyed: false) == FlowPairing.hash(words(a.reversed(icmpKeyed: false)), icmpKeyed: false))
        // the same inner 5-tuple in another tunnel (or another kind of tunnel) is another key
        #expect(words(a.reversed(icmpKeyed: false)) != words(b).reversed(icmpKeyed: false))
        #expect(words(a) != words(Self.key(tunnel: 1, type: 3)))
        #expect(FlowPairing.hash(words(a), icmpKeyed: false) != FlowPairing.hash(words(b), icmpKeyed: false))
        // a 40-byte key's words are unchanged by the wider reader
        let plain = FlowKey(src: a.src, dst: a.dst, sport: 1, dport: 2, proto: 6, ipVersion: 4)
        #expect(plain.bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!, keySize: 40) } == plain.bytes.withUnsafeBytes { FlowPairing.Words($0.baseAddress!) })
    }

    @Test func theReplayHashOfATunnelledFrameIsItsInnerFlows() {
        let inner = Packet.ethernet().ipv4(src: "10.0.0.1", dst: "10.0.0.2").tcp(sport: 40000, dport: 80, flags: [.fin, .ack])
        func vxlan(_ frame: PacketBuilder, sport: UInt16, up: Bool) -> [UInt8] {
            let outer = up ? Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2") : Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1")
            return outer.udp(sport: sport, dport: 4789, payload: [0x08, 0, 0, 0, 0, 0, 42, 0] + frame.bytes()).bytes()
        }
        func summary(_ bytes: [UInt8], tunnels: Bool = true) -> CaptureFlowHash.Summary {
            bytes.withUnsafeBytes { CaptureFlowHash.summary(ethernetFrame: $0, tunnels: tunnels) }
        }
        let plain = summary(inner.bytes(), tunnels: false)
        #expect(plain.tcpFlags == 0x11)
        // both directions, whatever outer source port, go where the inner flow goes, with its TCP flags
        #expect(summary(vxlan(inner, sport: 50000, up: true)) == plain)
        #expect(summary(vxlan(inner.reversed(), sport: 61000, up: false)).hash == plain.hash)
        // GRE (key, IPv4) and IP in IP too
        let gre: [UInt8] = [0x20, 0, 0x08, 0x00, 0, 0, 0, 7]
        let ipOnly = Array(inner.bytes()[14...])
        #expect(summary(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.3").ipPayload(protocol: 47, gre + ipOnly).bytes()) == plain)
        #expect(summary(Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").ipPayload(protocol: 4, ipOnly).bytes()) == plain)
        // without the feature the outer flow is hashed, and a VXLAN port without the I flag stays outer
        #expect(summary(vxlan(inner, sport: 50000, up: true), tunnels: false).tcpFlags == 0)
        let flagless = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 5, dport: 4789, payload: [0, 0, 0, 0, 0, 0, 42, 0] + inner.bytes()).bytes()
        #expect(summary(flagless) == summary(flagless, tunnels: false))
    }
}
