import Foundation
import Testing
@testable import FlowgenCore

/// Every link layer replay reads becomes the Ethernet frame the program expects, and the flow hash
/// that spreads flows over workers is the same for both directions and every link layer.
@Suite struct CaptureFramingTests {
    let v4 = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 1111, dport: 53, payload: [9, 9])
    let v6 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").tcp(sport: 40000, dport: 443, flags: [.syn])

    func ip(_ p: PacketBuilder) -> [UInt8] { Array(p.bytes()[14...]) }
    func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    func sll(protocol p: UInt16, hatype: UInt16 = 1) -> [UInt8] {
        [0, 0, UInt8(hatype >> 8), UInt8(hatype & 0xFF), 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, UInt8(p >> 8), UInt8(p & 0xFF)]
    }
    func sll2(protocol p: UInt16, hatype: UInt16 = 1) -> [UInt8] {
        [UInt8(p >> 8), UInt8(p & 0xFF), 0, 0, 0, 0, 0, 2, UInt8(hatype >> 8), UInt8(hatype & 0xFF), 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]
    }
    /// The Ethernet frame replay builds: zero MAC addresses and the ethertype.
    func expected(_ etherType: UInt16, _ payload: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 12) + [UInt8(etherType >> 8), UInt8(etherType & 0xFF)] + payload
    }

    @Test func everySupportedLinkLayerBecomesEthernet() {
        let a = ip(v4), b = ip(v6)
        let cases: [(CaptureLinkType, [UInt8], UInt16, [UInt8])] = [
            (.raw, a, 0x0800, a), (.raw, b, 0x86DD, b),
            (.rawBSD, a, 0x0800, a), (.rawOpenBSD, b, 0x86DD, b),
            (.ipv4, a, 0x0800, a), (.ipv6, b, 0x86DD, b),
            (.linuxSLL, sll(protocol: 0x0800) + a, 0x0800, a), (.linuxSLL, sll(protocol: 0x86DD) + b, 0x86DD, b),
            (.linuxSLL2, sll2(protocol: 0x0800) + a, 0x0800, a), (.linuxSLL2, sll2(protocol: 0x86DD) + b, 0x86DD, b),
            (.linuxSLL, sll(protocol: 0x0806) + [1, 2, 3], 0x0806, [1, 2, 3]), // ARP: the program counts it as not IP
            (.null, le32(2) + a, 0x0800, a), (.null, be32(2) + a, 0x0800, a),
            (.null, le32(24) + b, 0x86DD, b), (.null, le32(28) + b, 0x86DD, b), (.null, be32(30) + b, 0x86DD, b),
            (.null, le32(10) + b, 0x86DD, b), (.null, le32(23) + b, 0x86DD, b),
            (.loop, be32(2) + a, 0x0800, a), (.loop, be32(24) + b, 0x86DD, b),
        ]
        for (type, bytes, etherType, payload) in cases {
            #expect(EthernetFraming.frame(bytes, linkType: type) == expected(etherType, payload), "\(type)")
        }
        #expect(EthernetFraming.frame(v4.bytes(), linkType: .ethernet) == v4.bytes())
    }

    @Test func serialWirelessAndATMLinkLayersBecomeEthernet() {
        let a = ip(v4), b = ip(v6)
        let snap4: [UInt8] = [0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00], snap6: [UInt8] = [0xAA, 0xAA, 0x03, 0, 0, 0, 0x86, 0xDD]
        let data80211: [UInt8] = [0x08, 0x02, 0, 0] + [UInt8](repeating: 1, count: 20)            // data, from DS
        let qos80211: [UInt8] = [0x88, 0x01, 0, 0] + [UInt8](repeating: 1, count: 20) + [0x05, 0] // QoS data, to DS
        let radiotapPlain: [UInt8] = [0, 0, 8, 0, 0, 0, 0, 0]
        // TSFT and Flags present: 8-aligned TSFT at 8, flags at 16 with "data pad" (0x20); length 18
        let radiotapPadded: [UInt8] = [0, 0, 18, 0, 0x03, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [0x20, 0]
        let cases: [(CaptureLinkType, [UInt8], UInt16, [UInt8])] = [
            (.slip, [0, 0x40] + [UInt8](repeating: 0, count: 14) + a, 0x0800, a),
            (.ppp, [0xFF, 0x03, 0x00, 0x21] + a, 0x0800, a), (.ppp, [0x00, 0x57] + b, 0x86DD, b), (.ppp, [0x21] + a, 0x0800, a),
            (.pppHDLC, [0xFF, 0x03, 0x00, 0x57] + b, 0x86DD, b), (.pppHDLC, [0x0F, 0x00, 0x08, 0x00] + a, 0x0800, a),
            (.ciscoHDLC, [0x8F, 0x00, 0x86, 0xDD] + b, 0x86DD, b),
            (.frameRelay, [0x18, 0x41, 0x03, 0xCC] + a, 0x0800, a), (.frameRelay, [0x18, 0x41, 0x03, 0x00, 0x8E] + b, 0x86DD, b),
            (.frameRelay, [0x18, 0x41, 0x03, 0x80, 0, 0, 0, 0x08, 0x00] + a, 0x0800, a), (.frameRelay, [0x18, 0x41, 0x08, 0x00] + a, 0x0800, a),
            (.frameRelay, [0x18, 0x40, 0x01, 0x03, 0xCC] + a, 0x0800, a), // 3-byte address
            (.atmRFC1483, snap4 + a, 0x0800, a), (.atmCLIP, snap6 + b, 0x86DD, b),
            (.ieee80211, data80211 + snap4 + a, 0x0800, a),
            (.radiotap, radiotapPlain + data80211 + snap6 + b, 0x86DD, b),
            (.radiotap, radiotapPadded + qos80211 + [0, 0] + snap4 + a, 0x0800, a), // 26-byte header padded to 28
            (.arcnetLinux, [1, 2, 0, 0, 212, 0, 0, 0] + a, 0x0800, a), (.arcnetLinux, [1, 2, 0, 0, 240] + a, 0x0800, a),
            (.arcnetLinux, [1, 2, 0, 0, 196, 0, 0, 0] + b, 0x86DD, b),
            (.ipOverInfiniBand, [0x86, 0xDD, 0, 0] + b, 0x86DD, b),
        ]
        for (type, bytes, etherType, payload) in cases {
            #expect(EthernetFraming.frame(bytes, linkType: type) == expected(etherType, payload), "\(type) \(bytes.prefix(12))")
        }
        func classify(_ bytes: [UInt8], _ type: CaptureLinkType) -> EthernetFraming {
            bytes.withUnsafeBytes { EthernetFraming.classify($0, linkType: type) }
        }
        #expect(classify([0xFF, 0x03, 0xC0, 0x21, 1, 2], .ppp) == .notIP)             // LCP
        #expect(classify([0x0F, 0x00, 0x80, 0x35] + [UInt8](repeating: 0, count: 20), .ciscoHDLC) == .prepend(etherType: 0x8035, payloadOffset: 4)) // SLARP: run, not IP
        #expect(classify([0x18, 0x41, 0x03, 0x08, 1], .frameRelay) == .notIP)          // Q.933 signalling
        #expect(classify([0x18, 0x40, 0x40, 0x40], .frameRelay) == .notIP)            // no EA bit in 4 bytes
        #expect(classify([0x80, 0x00, 0, 0] + [UInt8](repeating: 0, count: 20), .ieee80211) == .notIP) // beacon
        #expect(classify([0x08, 0x42, 0, 0] + [UInt8](repeating: 0, count: 28), .ieee80211) == .notIP) // protected data
        #expect(classify([0x48, 0x01, 0, 0] + [UInt8](repeating: 0, count: 28), .ieee80211) == .notIP) // null data
        #expect(classify([0x88, 0x01, 0, 0] + [UInt8](repeating: 0, count: 20) + [0x80, 0] + snap4, .ieee80211) == .notIP) // A-MSDU
        #expect(classify(radiotapPlain + [0x08, 0x02], .radiotap) == .truncated)
        #expect(classify([0, 0, 200, 0, 0, 0, 0, 0], .radiotap) == .truncated)
        #expect(classify([1, 0, 8, 0, 0, 0, 0, 0, 8, 2], .radiotap) == .notIP)        // radiotap version 1
        #expect(classify([1, 2, 0, 0, 213, 0, 0, 0, 1], .arcnetLinux) == .notIP)      // ARCNET ARP
        #expect(classify([0, 0x70] + [UInt8](repeating: 0, count: 14) + [0x45], .slip) == .prepend(etherType: 0x0800, payloadOffset: 16))
        #expect(classify([0, 0x40, 0, 0], .slip) == .truncated)
    }

    @Test func framesWithoutAnIPProtocolOrCutInTheLinkHeader() {
        func classify(_ bytes: [UInt8], _ type: CaptureLinkType) -> EthernetFraming {
            bytes.withUnsafeBytes { EthernetFraming.classify($0, linkType: type) }
        }
        #expect(classify([], .raw) == .truncated)
        #expect(classify([0x55, 0, 0, 0], .raw) == .notIP)
        #expect(classify([0, 0, 0], .null) == .truncated)
        #expect(classify(le32(7) + [1, 2], .null) == .notIP)          // AF_APPLETALK-ish
        #expect(classify(be32(2) + [1], .null) == .prepend(etherType: 0x0800, payloadOffset: 4)) // other byte order
        #expect(classify(le32(2) + [1], .loop) == .notIP)             // LOOP is always network order
        #expect(classify(Array(sll(protocol: 0x0800)[..<15]), .linuxSLL) == .truncated)
        #expect(classify(sll(protocol: 0x0004), .linuxSLL) == .notIP)  // 802.2 LLC
        #expect(classify(sll(protocol: 0x0010, hatype: 824), .linuxSLL) == .notIP) // netlink
        #expect(classify(sll2(protocol: 0x0800, hatype: 824), .linuxSLL2) == .notIP)
        #expect(classify(Array(sll2(protocol: 0x0800)[..<19]), .linuxSLL2) == .truncated)
        #expect(classify(sll2(protocol: 0x8100), .linuxSLL2) == .prepend(etherType: 0x8100, payloadOffset: 20)) // VLAN tag follows
    }

    func hash(_ p: PacketBuilder) -> UInt64 { p.bytes().withUnsafeBytes { CaptureFlowHash.hash(ethernetFrame: $0) } }

    @Test func theFlowHashIsTheSameBothWaysAndOnEveryLinkLayer() {
        let flows: [PacketBuilder] = [
            v4, v6,
            Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::9").hopByHop().routing().destinationOptions().udp(sport: 5, dport: 6),
            Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").ipPayload(protocol: 47, [0, 0, 0x65, 0x58]),
            Packet.ethernet().ipv4(options: [1, 1, 1, 0]).tcp(sport: 7, dport: 8),
        ]
        for p in flows {
            #expect(hash(p) == hash(p.reversed()), "\(p)")
            let raw = ip(p)
            let viaRaw = raw.withUnsafeBytes { CaptureFlowHash.hash(etherType: p.bytes()[12] == 0x08 ? 0x0800 : 0x86DD, network: $0) }
            #expect(viaRaw == hash(p))
        }
        // VLAN tags and QinQ do not change the flow
        let tagged = Packet.ethernet().qinq(outer: 10, inner: 20).ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 1111, dport: 53, payload: [9, 9])
        #expect(hash(tagged) == hash(v4))
        // ports count: another port is (almost surely) another bucket
        #expect(hash(v4) != hash(Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").udp(sport: 1112, dport: 53)))
        // ICMP request and reply meet, whatever identifier and type
        let request = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").icmpv4(type: 8, identifier: 5)
        let reply = Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").icmpv4(type: 0, identifier: 5)
        #expect(hash(request) == hash(reply))
        // later fragments, keyed without ports by the program, all go to one place
        let f1 = Packet.ethernet().ipv4(id: 9, fragmentOffset: 3, protocol: 17).ipPayload(protocol: 17, [1, 2, 3, 4, 5, 6, 7, 8])
        let f2 = Packet.ethernet().ipv4(id: 10, fragmentOffset: 50, protocol: 17).ipPayload(protocol: 17, [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(hash(f1) == hash(f2))
        let g1 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").fragment(offset: 100).udp(sport: 1, dport: 2)
        let g2 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").fragment(offset: 200).udp(sport: 3, dport: 4)
        #expect(hash(g1) == hash(g2))
    }

    @Test func linkTypeNames() {
        #expect(CaptureLinkType.supported.allSatisfy { $0.isSupported })
        #expect(!CaptureLinkType(rawValue: 195).isSupported)
        #expect(CaptureLinkType.linuxSLL2.description == "276 (Linux cooked capture v2 (SLL2))")
        #expect(CaptureLinkType(rawValue: 60000).name == "unknown")
    }
}
