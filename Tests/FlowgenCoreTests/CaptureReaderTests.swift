import Foundation
import Testing
@testable import FlowgenCore
import FlowgenKernel
@testable import FlowgenTestSupport

/// Frames used by the capture tests: a TCP segment, a UDP datagram and an IPv6 ICMP echo.
enum CaptureFixtures {
    static let tcp = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2").tcp(sport: 40000, dport: 80, flags: [.syn])
    static let udp = Packet.ethernet().ipv4(src: "198.18.0.2", dst: "198.18.0.1").udp(sport: 53, dport: 5353, payload: [1, 2, 3])
    static let icmp6 = Packet.ethernet().ipv6(src: "fd00::1", dst: "fd00::2").icmpv6(type: 128, identifier: 7)
    static let frames = [tcp.bytes(), udp.bytes(), icmp6.bytes()]
    /// 2023-11-14 22:13:20.123456789 UTC.
    static let t0: UInt64 = 1_700_000_000_123_456_789

    /// A fresh temporary path (removed by the caller).
    static func temporaryPath(_ suffix: String) -> String {
        NSTemporaryDirectory() + "fgcap-\(UUID().uuidString)\(suffix)"
    }
}

@Suite struct CaptureReaderTests {
    func read(_ bytes: [UInt8]) throws -> (CaptureReader, [(UInt64, CaptureLinkType, [UInt8], Int)]) {
        let reader = try CaptureReader(bytes: bytes, name: "test.cap")
        var out: [(UInt64, CaptureLinkType, [UInt8], Int)] = []
        while let p = try reader.next() { out.append((p.timestampNs, p.linkType, Array(p.bytes), p.originalLength)) }
        return (reader, out)
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func pcapInEveryByteOrderAndResolution(nanosecond: Bool, bigEndian: Bool) throws {
        let w = PcapWriter(linkType: .ethernet, nanosecond: nanosecond, bigEndian: bigEndian)
        for (i, f) in CaptureFixtures.frames.enumerated() {
            try w.append(f, timestampNs: CaptureFixtures.t0 + UInt64(i) * 1_000_000_007, originalLength: f.count + 10)
        }
        let (reader, packets) = try read(w.bytes)
        #expect(reader.format == .pcap(nanosecond: nanosecond, swapped: bigEndian))
        #expect(reader.linkTypes == [.ethernet])
        #expect(packets.count == 3)
        for (i, p) in packets.enumerated() {
            let exact = CaptureFixtures.t0 + UInt64(i) * 1_000_000_007
            #expect(p.0 == (nanosecond ? exact : exact / 1_000 * 1_000))
            #expect(p.1 == .ethernet)
            #expect(p.2 == CaptureFixtures.frames[i])
            #expect(p.3 == CaptureFixtures.frames[i].count + 10)
        }
        #expect(try reader.next() == nil)
    }

    @Test func pcapFromAFileWithFCSBitsInTheLinkType() throws {
        let path = CaptureFixtures.temporaryPath(".pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = PcapWriter(linkType: CaptureLinkType(rawValue: 0x1000_0001)) // FCS length bits set, link type 1
        try w.append(CaptureFixtures.frames[0], timestampNs: CaptureFixtures.t0)
        try w.write(toFile: path)
        let all = try CaptureReader(path: path).readAll()
        #expect(all.count == 1 && all[0].linkType == .ethernet && all[0].bytes == CaptureFixtures.frames[0])
    }

    @Test func modifiedPcapRecordsAreRead() throws {
        // the "modified" (Kuznetzov) format: magic 0xa1b2cd34 and 8 more bytes per record header
        var bytes: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        u32(0xA1B2_CD34); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(1)
        let f = CaptureFixtures.frames[1]
        u32(1_700_000_000); u32(250_000); u32(UInt32(f.count)); u32(UInt32(f.count)); u32(3); u16(0); u16(0)
        bytes += f
        let (_, packets) = try read(bytes)
        #expect(packets.count == 1)
        #expect(packets.first?.0 == 1_700_000_000_250_000_000)
        #expect(packets.first?.2 == f)
    }

    @Test func pcapngSectionsInterfacesResolutionsAndBlockKinds() throws {
        let w = PcapngWriter()
        let eth = w.interface(linkType: .ethernet)                                       // µs by default
        let raw = w.interface(linkType: .raw, tsresol: 9)                                // ns
        let cooked = w.interface(linkType: .linuxSLL2, tsresol: 0x80 | 20, tsoffset: 3600) // 2^-20 s, +1 h
        w.block(4, [0, 0, 0, 0])                           // name resolution block: skipped
        w.enhancedPacket(interface: eth, timestampNs: CaptureFixtures.t0, CaptureFixtures.frames[0], comment: "first")
        let rawFrame = Array(CaptureFixtures.frames[1][14...])
        w.enhancedPacket(interface: raw, timestampNs: CaptureFixtures.t0 + 5, rawFrame)
        let sll2 = [UInt8]([0x86, 0xDD, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]) + CaptureFixtures.frames[2][14...]
        w.enhancedPacket(interface: cooked, timestampNs: CaptureFixtures.t0 + 7_000_000, sll2)
        w.block(0x0000_0BAD, [1, 2, 3, 4, 5, 6, 7, 8])     // custom block: skipped
        w.block(5, [UInt8](repeating: 0, count: 12))       // interface statistics: skipped
        w.simplePacket(CaptureFixtures.frames[1])          // no timestamp: the previous packet's time
        w.obsoletePacket(interface: eth, timestampNs: CaptureFixtures.t0 + 9_000_000, CaptureFixtures.frames[0])
        w.section(bigEndian: true)                         // a second section, other byte order, fresh interfaces
        let eth2 = w.interface(linkType: .ethernet, snapLength: 40, tsresol: 3) // ms
        w.enhancedPacket(interface: eth2, timestampNs: CaptureFixtures.t0 + 2_000_000_000, CaptureFixtures.frames[2], originalLength: 999)
        w.simplePacket(CaptureFixtures.frames[0])          // cut to the interface's 40-byte snapshot length

        let (reader, packets) = try read(w.bytes)
        #expect(reader.format == .pcapng)
        #expect(reader.linkTypes == [.ethernet, .raw, .linuxSLL2])
        #expect(packets.count == 7)
        #expect(packets.map(\.1) == [.ethernet, .raw, .linuxSLL2, .ethernet, .ethernet, .ethernet, .ethernet])
        let t0 = CaptureFixtures.t0
        let micro = t0 / 1_000 * 1_000
        #expect(packets[0].0 == micro)
        #expect(packets[1].0 == t0 + 5)
        // 2^-20 s units: within one unit (954 ns) below the exact time
        #expect(packets[2].0 <= t0 + 7_000_000 && t0 + 7_000_000 - packets[2].0 < 954)
        #expect(packets[3].0 == packets[2].0)
        #expect(packets[4].0 == (t0 + 9_000_000) / 1_000 * 1_000)
        #expect(packets[5].0 == (t0 + 2_000_000_000) / 1_000_000 * 1_000_000)
        #expect(packets[0].2 == CaptureFixtures.frames[0])
        #expect(packets[1].2 == rawFrame)
        #expect(packets[2].2 == sll2)
        #expect(packets[3].2 == CaptureFixtures.frames[1])
        #expect(packets[5].2 == CaptureFixtures.frames[2] && packets[5].3 == 999)
        #expect(packets[6].2 == Array(CaptureFixtures.frames[0][..<40]) && packets[6].3 == CaptureFixtures.frames[0].count)
    }

    @Test func largeCapturesStreamThroughTheBuffer() throws {
        // more than the 1 MiB read-ahead, with records straddling every chunk boundary
        let path = CaptureFixtures.temporaryPath(".pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try PcapWriter(path: path)
        var sizes: [Int] = []
        for i in 0..<3_000 {
            let payload = [UInt8](repeating: UInt8(i & 0xFF), count: (i * 37) % 1400)
            let f = Packet.ethernet().ipv4().udp(sport: UInt16(i), dport: 9, payload: payload).bytes()
            sizes.append(f.count)
            try w.append(f, timestampNs: CaptureFixtures.t0 + UInt64(i) * 1_000)
        }
        try w.close()
        let reader = try CaptureReader(path: path)
        var i = 0
        while let p = try reader.next() {
            #expect(p.bytes.count == sizes[i] && p.index == i)
            #expect(p.bytes.last == UInt8(i & 0xFF) || sizes[i] == 42)
            i += 1
        }
        #expect(i == 3_000)
    }

    @Test func timestampScalesConvertExactly() throws {
        #expect(CaptureTimestampScale(tsresol: 6)?.nanoseconds(1_500_000) == 1_500_000_000)
        #expect(CaptureTimestampScale(tsresol: 9)?.nanoseconds(42) == 42)
        #expect(CaptureTimestampScale(tsresol: 12)?.nanoseconds(42_999) == 42)
        #expect(CaptureTimestampScale(tsresol: 0x80 | 10)?.nanoseconds(1024) == 1_000_000_000)
        #expect(CaptureTimestampScale(tsresol: 0x80 | 0)?.nanoseconds(2) == 2_000_000_000)
        #expect(CaptureTimestampScale(tsresol: 0)?.nanoseconds(UInt64.max) == nil)  // seconds beyond 2554
        #expect(CaptureTimestampScale(tsresol: 20) == nil)
        #expect(CaptureTimestampScale(tsresol: 6)!.offset(by: -10).nanoseconds(5_000_000) == nil) // before 1970
        #expect(CaptureTimestampScale(tsresol: 6)!.offset(by: 10).nanoseconds(5_000_000) == 15_000_000_000)
    }
}
