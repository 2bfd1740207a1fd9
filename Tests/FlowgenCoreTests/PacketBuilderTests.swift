import Foundation
import Testing
@testable import FlowgenCore
import FlowgenTestSupport

/// Reads a big-endian 16-bit field, so assertions name offsets the way RFC diagrams do.
private func be16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
}

/// Parses hex with optional spaces, so hand-written frames can be laid out header by header.
private func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

@Suite("PacketBuilder")
struct PacketBuilderTests {
    // MARK: Checksums against independent vectors

    @Test func checksumMatchesRFC1071Example() {
        // RFC 1071 section 3: the words sum to 0xddf2, so the checksum is its complement.
        #expect(Packet.Checksum.compute([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]) == 0x220D)
        // An odd trailing byte counts as the high byte of a zero-padded word.
        #expect(Packet.Checksum.compute([0x00, 0x01, 0xF2]) == ~UInt16(0xF201))
    }

    @Test func ipv4HeaderChecksumMatchesKnownHeader() {
        // The widely quoted example header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
        let frame = Packet.raw()
            .ipv4(src: "192.168.0.1", dst: "192.168.0.199", ttl: 64, flags: [.dontFragment], totalLength: 0x73)
            .udp(sport: 1, dport: 2)
            .bytes()
        #expect(Array(frame.prefix(20)) == hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"))
    }

    @Test func tcpSynMatchesHandWrittenFrame() {
        let expected = hex("""
            020000000002 020000000001 0800
            4500 002c 1c46 4000 4006 925e c6120001 c6120002
            04d2 0050 00000001 00000000 6002 ffff 06dc 0000 020405b4
            """)
        let frame = Packet.ethernet()
            .ipv4(src: "198.18.0.1", dst: "198.18.0.2", id: 0x1C46, flags: [.dontFragment])
            .tcp(sport: 1234, dport: 80, seq: 1, flags: [.syn], options: [.maximumSegmentSize(1460)])
            .bytes()
        #expect(frame == expected)
    }

    @Test func ipv6UDPAndICMPv6MatchHandWrittenFrames() {
        let addresses = "fd000000000000000000000000000001 fd000000000000000000000000000002"
        let udp = Packet.raw()
            .ipv6(src: "fd00::1", dst: "fd00::2", hopLimit: 64)
            .udp(sport: 12345, dport: 53, payload: Array("abcd".utf8))
            .bytes()
        #expect(udp == hex("6000 0000 000c 11 40 \(addresses) 3039 0035 000c 109d 61626364"))

        let icmp = Packet.raw()
            .ipv6(src: "fd00::1", dst: "fd00::2", hopLimit: 64)
            .icmpv6(type: 128, identifier: 7, sequence: 1, payload: Array("ping".utf8))
            .bytes()
        #expect(icmp == hex("6000 0000 000c 3a 40 \(addresses) 8000 a6db 0007 0001 70696e67"))
    }

    @Test(arguments: [0, 1, 2, 3, 7, 100, 1401])
    func recomputedChecksumsVerify(payloadLength: Int) throws {
        let payload = (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let v4: Packet.IPv4Address = "198.18.3.4"
        let v4b: Packet.IPv4Address = "198.19.250.1"
        let v6: Packet.IPv6Address = "fd12:3456::abcd"
        let v6b: Packet.IPv6Address = "fdff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"

        let tcp4 = Packet.ethernet().ipv4(src: v4, dst: v4b, options: [1, 1, 1])
            .tcp(flags: [.psh, .ack], options: [.noOperation, .windowScale(7)], payload: payload)
        let tcp6 = Packet.ethernet().ipv6(src: v6, dst: v6b).hopByHop().tcp(payload: payload)
        let udp4 = Packet.ethernet().ipv4(src: v4, dst: v4b).udp(payload: payload)
        let udp6 = Packet.raw().ipv6(src: v6, dst: v6b).udp(payload: payload)
        let icmp4 = Packet.ethernet().vlan(5).ipv4(src: v4, dst: v4b).icmpv4(identifier: 9, payload: payload)
        let icmp6 = Packet.ethernet().ipv6(src: v6, dst: v6b).fragment().icmpv6(type: 129, payload: payload)

        for (packet, number) in [(tcp4, 6), (udp4, 17)] {
            let frame = packet.bytes()
            let layout = packet.layout
            let ipHeader = Array(frame[layout.networkOffset..<layout.transportOffset!])
            #expect(Packet.Checksum.isValid(ipHeader))
            let segment = Array(frame[layout.transportOffset!...])
            let pseudo = Packet.Checksum.pseudoHeader(ipv4Source: v4, destination: v4b, protocol: UInt8(number), length: segment.count)
            #expect(Packet.Checksum.isValid(pseudo + segment), "protocol \(number)")
        }
        for (packet, number) in [(tcp6, 6), (udp6, 17), (icmp6, 58)] {
            let frame = packet.bytes()
            let segment = Array(frame[packet.layout.transportOffset!...])
            let pseudo = Packet.Checksum.pseudoHeader(ipv6Source: v6, destination: v6b, nextHeader: UInt8(number), length: segment.count)
            #expect(Packet.Checksum.isValid(pseudo + segment), "next header \(number)")
        }
        let icmpFrame = icmp4.bytes()
        #expect(Packet.Checksum.isValid(Array(icmpFrame[icmp4.layout.transportOffset!...])))
    }

    @Test func checksumOverridesAreWrittenVerbatim() {
        let tcp = Packet.ethernet().ipv4(checksum: 0xDEAD).tcp(checksum: 0xBEEF).bytes()
        #expect(be16(tcp, 14 + 10) == 0xDEAD)
        #expect(be16(tcp, 34 + 16) == 0xBEEF)
        let noChecksum = Packet.ethernet().ipv4().udp(checksum: 0).bytes()
        #expect(be16(noChecksum, 34 + 6) == 0)
    }

    // MARK: Lengths

    @Test func lengthsAreComputed() {
        let payload = [UInt8](repeating: 0xAB, count: 33)
        let tcp = Packet.ethernet().ipv4(options: [0x94, 0x04, 0, 0, 1]).tcp(options: [.maximumSegmentSize(1400), .windowScale(3)], payload: payload)
        let frame = tcp.bytes()
        // IHL 7: 5 fixed words plus 5 option bytes padded to 8.
        #expect(frame[14] == 0x47)
        #expect(be16(frame, 16) == UInt16(28 + 28 + 33))
        #expect(tcp.layout.transportOffset == 14 + 28)
        // Data offset 7: MSS (4) + window scale (3) padded to 8.
        #expect(frame[14 + 28 + 12] >> 4 == 7)
        #expect(tcp.layout.payloadOffset == 14 + 28 + 28)
        #expect(frame.count == 14 + 28 + 28 + 33)

        let udp = Packet.raw().ipv6().destinationOptions().udp(payload: payload).bytes()
        #expect(be16(udp, 4) == UInt16(8 + 8 + 33))
        #expect(be16(udp, 40 + 8 + 4) == UInt16(8 + 33))
    }

    @Test func lengthAndHeaderOverridesProduceMalformedHeaders() {
        let badIHL = Packet.raw().ipv4(ihl: 4, totalLength: 1500).udp().bytes()
        #expect(badIHL[0] == 0x44)
        #expect(be16(badIHL, 2) == 1500)
        #expect(badIHL.count == 28)

        let badOffset = Packet.raw().ipv4().tcp(dataOffset: 3).bytes()
        #expect(badOffset[20 + 12] == 0x30)

        let v6 = Packet.raw().ipv6(payloadLength: 9000, version: 4).bytes()
        #expect(v6[0] >> 4 == 4)
        #expect(be16(v6, 4) == 9000)
        // Nothing after the fixed header: next header is No Next Header.
        #expect(v6[6] == 59)

        let lyingUDP = Packet.raw().ipv4().udp(payload: [1, 2], length: 200).bytes()
        #expect(be16(lyingUDP, 24) == 200)
    }

    // MARK: Link layer

    @Test func vlanTagsNestToAnyDepth() {
        let ids: [UInt16] = [10, 20, 30, 40, 4095]
        var builder = Packet.ethernet().vlan(ids[0], tpid: Packet.VLANTag.dot1AD)
        for id in ids.dropFirst() {
            builder = builder.vlan(id, priority: 5, dropEligible: id == 4095)
        }
        let packet = builder.ipv6().udp()
        let frame = packet.bytes()
        #expect(packet.layout.networkOffset == 14 + 4 * 5)
        #expect(be16(frame, 12) == 0x88A8)
        #expect(be16(frame, 14) == 10)
        for index in 1..<5 {
            let offset = 12 + 4 * index
            #expect(be16(frame, offset) == 0x8100)
            let tci = be16(frame, offset + 2)
            #expect(tci & 0x0FFF == ids[index])
            #expect(tci >> 13 == 5)
            #expect((tci & 0x1000 != 0) == (ids[index] == 4095))
        }
        #expect(be16(frame, 12 + 4 * 5) == 0x86DD)
        #expect(frame[14 + 4 * 5] >> 4 == 6)

        let qinq = Packet.ethernet().qinq(outer: 100, inner: 200).ipv4().bytes()
        #expect(Array(qinq[12..<22]) == [0x88, 0xA8, 0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00])
    }

    @Test func rawLinkStartsWithIPHeader() {
        let v4 = Packet.raw().ipv4().icmpv4()
        #expect(v4.linkType == .rawIP)
        #expect(v4.bytes().first == 0x45)
        #expect(v4.layout.networkOffset == 0)
        #expect(Packet.raw().ipv6().bytes().first == 0x60)
        #expect(Packet.ethernet().linkType.rawValue == 1)
        #expect(Packet.raw().linkType.rawValue == 101)
    }

    @Test func nonIPAndOpaquePayloads() {
        let arp = Packet.ethernet(dst: "ff:ff:ff:ff:ff:ff").ethernetPayload(etherType: 0x0806, [0, 1, 8, 0]).bytes()
        #expect(Array(arp[0..<6]) == [UInt8](repeating: 0xFF, count: 6))
        #expect(be16(arp, 12) == 0x0806)
        #expect(arp.count == 18)

        let gre = Packet.ethernet().ipv4().ipPayload(protocol: 47, [0, 0, 0x08, 0x00]).bytes()
        #expect(gre[14 + 9] == 47)
        #expect(Array(gre.suffix(4)) == [0, 0, 0x08, 0x00])
        let esp = Packet.ethernet().ipv6().ipPayload(protocol: 50, [UInt8](repeating: 7, count: 16)).bytes()
        #expect(esp[14 + 6] == 50)
        #expect(be16(esp, 14 + 4) == 16)

        let overridden = Packet.ethernet().etherType(0x86DD).ipv4().bytes()
        #expect(be16(overridden, 12) == 0x86DD)
    }

    // MARK: IPv4 fields and IPv6 extension headers

    @Test func ipv4FieldsLandInPlace() {
        let frame = Packet.raw()
            .ipv4(src: [198, 18, 0, 9], dst: "198.19.255.254", ttl: 3, tos: 0xB8, id: 0xABCD,
                  flags: [.moreFragments, .dontFragment], fragmentOffset: 185)
            .ipPayload(protocol: 6, [1, 2, 3, 4, 5, 6, 7, 8])
            .bytes()
        #expect(frame[1] == 0xB8)
        #expect(be16(frame, 4) == 0xABCD)
        #expect(be16(frame, 6) == 0x6000 | 185)
        #expect(frame[8] == 3)
        #expect(frame[9] == 6)
        #expect(Array(frame[12..<20]) == [198, 18, 0, 9, 198, 19, 255, 254])
    }

    @Test func ipv6ExtensionHeadersChainNextHeaderValues() {
        let packet = Packet.ethernet()
            .ipv6(trafficClass: 0x2E, flowLabel: 0xABCDE, hopLimit: 1)
            .hopByHop(options: [5, 2, 0, 0])
            .routing(type: 0, segmentsLeft: 0)
            .destinationOptions(options: [0x1E, 3, 1, 2, 3])
            .fragment(offset: 100, moreFragments: true, identification: 0xDEADBEEF)
            .tcp(flags: [.syn])
        let frame = packet.bytes()
        let ip = 14
        #expect(be16(frame, ip) == 0x62EA)
        #expect(be16(frame, ip + 2) == 0xBCDE)
        #expect(frame[ip + 7] == 1)

        // Walk the chain the way a parser does: (next header, length) pairs.
        var next = frame[ip + 6]
        var offset = ip + 40
        var seen: [UInt8] = []
        while [0, 43, 60, 44].contains(next) {
            seen.append(next)
            let length = next == 44 ? 8 : (Int(frame[offset + 1]) + 1) * 8
            #expect(length % 8 == 0)
            if next == 44 {
                #expect(be16(frame, offset + 2) == 100 << 3 | 1)
                #expect(Array(frame[(offset + 4)..<(offset + 8)]) == [0xDE, 0xAD, 0xBE, 0xEF])
            }
            next = frame[offset]
            offset += length
        }
        #expect(seen == [0, 43, 60, 44])
        #expect(next == 6)
        #expect(offset == packet.layout.transportOffset)
        #expect(frame[offset + 13] == Packet.TCPFlags.syn.rawValue)
        #expect(Int(be16(frame, ip + 4)) == frame.count - ip - 40)

        // Pad1 and PadN keep option lists valid: 2 + 5 option bytes need exactly one Pad1.
        let destination = Packet.raw().ipv6().destinationOptions(options: [0x1E, 3, 1, 2, 3]).bytes()
        #expect(Array(destination[40..<48]) == [59, 0, 0x1E, 3, 1, 2, 3, 0])
        let padN = Packet.raw().ipv6().hopByHop().bytes()
        #expect(Array(padN[40..<48]) == [59, 0, 1, 4, 0, 0, 0, 0])
    }

    @Test func ipv6NextHeaderOverrideAndOtherHeaders() {
        let frame = Packet.raw()
            .ipv6(nextHeader: 17, extensionHeaders: [.other(protocolNumber: 135, body: [0, 0, 0, 0, 0, 0, 0])])
            .udp()
            .bytes()
        #expect(frame[6] == 17)
        #expect(frame[40] == 17)
        let ah = Packet.raw().ipv6().extensionHeader(.authentication(spi: 1, sequence: 2, icv: [UInt8](repeating: 0, count: 12))).icmpv6().bytes()
        #expect(ah[6] == 51)
        #expect(ah[40] == 58)
        #expect(ah[41] == 4)
    }

    // MARK: Whole-frame edits

    @Test func truncationCutsButKeepsAnnouncedLengths() {
        let full = Packet.ethernet().ipv4().tcp(payload: [UInt8](repeating: 1, count: 100))
        let cut = full.truncated(to: 40)
        let frame = cut.bytes()
        #expect(frame.count == 40)
        #expect(frame == Array(full.bytes().prefix(40)))
        #expect(be16(frame, 16) == 140)
        #expect(cut.layout.length == 40)
        #expect(full.truncated(to: 10_000).bytes() == full.bytes())
        #expect(full.truncated(to: 0).bytes().isEmpty)
        #expect(full.truncated(to: 50).truncated(to: 60).bytes().count == 50)
    }

    @Test func paddingAndPatches() {
        let small = Packet.ethernet().ipv4().udp().padded(to: 60)
        let frame = small.bytes()
        #expect(frame.count == 60)
        #expect(be16(frame, 16) == 28)
        #expect(frame[42...].allSatisfy { $0 == 0 })

        let patched = Packet.raw().ipv4().udp().overwriting(at: 0, with: [0x4F]).bytes()
        #expect(patched[0] == 0x4F)
    }

    @Test func reversedSwapsEndpoints() {
        let forward = Packet.ethernet(src: "02:00:00:00:00:0a", dst: "02:00:00:00:00:0b")
            .ipv4(src: "198.18.0.1", dst: "198.18.0.2").tcp(sport: 1111, dport: 2222)
        let back = forward.reversed().bytes()
        #expect(back[5] == 0x0A && back[11] == 0x0B)
        #expect(Array(back[26..<34]) == [198, 18, 0, 2, 198, 18, 0, 1])
        #expect(be16(back, 34) == 2222 && be16(back, 36) == 1111)
        #expect(forward.reversed().reversed() == forward)
    }

    // MARK: Address parsing

    @Test func ipv6AddressParsing() {
        let cases: [(String, String)] = [
            ("::", "00000000000000000000000000000000"),
            ("::1", "00000000000000000000000000000001"),
            ("1::", "00010000000000000000000000000000"),
            ("fd00::1", "fd000000000000000000000000000001"),
            ("FD00:0:0::A:b", "fd0000000000000000000000000a000b"),
            ("1:2:3:4:5:6:7:8", "00010002000300040005000600070008"),
            ("1:2:3:4:5:6:7::", "00010002000300040005000600070000"),
            ("::ffff:198.18.0.1", "00000000000000000000ffffc6120001"),
            ("64:ff9b::10.0.0.1", "0064ff9b0000000000000000 0a000001"),
        ]
        for (text, expected) in cases {
            #expect(Packet.IPv6Address(parsing: text)?.bytes == hex(expected), "\(text)")
        }
        for bad in ["", ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8",
                    "1:2:3:4:5:6:7", "g::1", "::1.2.3", "1.2.3.4::", "fe80::1%eth0", "1::2:"] {
            #expect(Packet.IPv6Address(parsing: bad) == nil, "\(bad)")
        }
        #expect(Packet.IPv6Address(parsing: "fd00:0:0:0:0:0:0:1")?.description == "fd00::1")
        #expect(Packet.IPv6Address(parsing: "1:0:0:2:0:0:0:3")?.description == "1:0:0:2::3")
        #expect(Packet.IPv6Address(parsing: "1:0:2:3:4:5:6:7")?.description == "1:0:2:3:4:5:6:7")
        #expect(Packet.IPv6Address(mapping: "198.18.0.1") == "::ffff:198.18.0.1")
    }

    @Test func ipv4AndMACParsing() {
        #expect(Packet.IPv4Address(parsing: "198.18.0.1")?.bytes == [198, 18, 0, 1])
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d", " 1.2.3.4"] {
            #expect(Packet.IPv4Address(parsing: bad) == nil, "\(bad)")
        }
        #expect(Packet.IPv4Address([198, 18, 0, 1]).description == "198.18.0.1")
        #expect(Packet.MACAddress(parsing: "02-00-00-AB-cd-0f")?.bytes == [2, 0, 0, 0xAB, 0xCD, 0x0F])
        #expect(Packet.MACAddress(parsing: "02:00:00:00:00") == nil)
        #expect(Packet.MACAddress([2, 0, 0, 0, 0, 0x1F]).description == "02:00:00:00:00:1f")
    }

    // MARK: Cross-check with Wireshark

    /// Needs tshark: without it the test fails and says how to install it, never skips.
    @Test func tsharkDecodesFramesWithoutWarnings() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"),
                     "tshark is not installed at /usr/bin/tshark: run scripts/setup.sh (Debian package tshark)")
        let ethernet: [Packet] = [
            Packet.ethernet().ipv4().tcp(sport: 1234, dport: 80, flags: [.syn],
                                         options: [.maximumSegmentSize(1460), .sackPermitted, .timestamp(value: 1, echoReply: 0), .noOperation, .windowScale(7)]),
            Packet.ethernet().vlan(7).ipv4(options: [1, 1, 1, 0]).tcp(flags: [.psh, .ack], payload: Array("hello".utf8)),
            Packet.ethernet().qinq(outer: 1, inner: 2).ipv4(tos: 0x10).udp(sport: 33333, dport: 44444, payload: [1, 2, 3]),
            Packet.ethernet().ipv4().icmpv4(identifier: 1, sequence: 2, payload: Array("abc".utf8)),
            Packet.ethernet().ipv6(flowLabel: 0x12345).tcp(payload: [9, 9, 9]),
            Packet.ethernet().ipv6().hopByHop().destinationOptions().udp(sport: 33333, dport: 44444, payload: [1]),
            Packet.ethernet().ipv6().icmpv6(type: 128, identifier: 3, sequence: 4, payload: [0xAA]),
            Packet.ethernet().ipv6().destinationOptions(options: [0x1E, 1, 0]).icmpv6(type: 129, payload: [1, 2, 3]),
        ]
        let raw: [Packet] = [
            Packet.raw().ipv4().udp(sport: 33333, dport: 44444, payload: [1, 2, 3, 4, 5]),
            Packet.raw().ipv6().tcp(flags: [.fin, .ack]),
        ]
        for (name, packets) in [("ethernet", ethernet), ("raw", raw)] {
            let output = try runTshark(on: packets, name: name)
            #expect(output.contains("Frame \(packets.count):"), "\(name): tshark decoded every frame")
            #expect(output.contains("[Checksum Status: Good]"), "\(name): checksums were validated")
            let markers = ["Malformed", "incorrect, should be", "Status: Bad", "Bad checksum", "Expert Info (Error", "Expert Info (Warning"]
            // Report only the offending lines: the full -V dump is thousands of lines.
            let complaints = output.split(separator: "\n").filter { line in markers.contains { line.contains($0) } }
            #expect(complaints.isEmpty, "\(name): tshark complained:\n\(complaints.joined(separator: "\n"))")
        }
    }

    /// Writes a classic pcap of `packets` and returns `tshark -V` output with checksum validation on.
    private func runTshark(on packets: [Packet], name: String) throws -> String {
        var file: [UInt8] = []
        func le32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { file += $0 } }
        func le16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { file += $0 } }
        le32(0xA1B2_C3D4); le16(2); le16(4); le32(0); le32(0); le32(65535)
        le32(packets[0].linkType.rawValue)
        for (index, packet) in packets.enumerated() {
            let frame = packet.bytes()
            le32(1_700_000_000); le32(UInt32(index)); le32(UInt32(frame.count)); le32(UInt32(frame.count))
            file += frame
        }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("flowgen-packetbuilder-\(getpid())-\(name)-\(UUID().uuidString).pcap")
        try Data(file).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }

        let result = try ProcessRunner.run(["/usr/bin/tshark", "-n", "-r", url.path, "-V",
                                            "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                                            "-o", "udp.check_checksum:TRUE"], timeout: .seconds(60))
        #expect(result.succeeded, "tshark: \(result.stderr)")
        return result.stdout
    }
}
