import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Synthetic traffic for the replay section, written with FlowgenCore's `PcapWriter` (classic pcap,
/// µs timestamps, Ethernet): `packets` packets over `flows` conversations, interleaved as on a busy link.
struct SyntheticCapture {
    /// Packets in the file.
    let packets: Int
    /// Conversations they belong to.
    let flows: Int

    /// Writes the capture to `path`. Flow `k` is TCP (two in three) or UDP, IPv4 (three in four) or
    /// IPv6, between addresses in 198.18.0.0/15 or fd00::/8; packets alternate direction per flow.
    func write(to path: String) throws {
        let writer = try PcapWriter(path: path, snapLength: 65_535)
        // Two frames per flow (one each way), built once and reused: building 1M frames would time the builder.
        var templates: [[UInt8]] = []
        templates.reserveCapacity(flows * 2)
        for k in 0..<flows {
            let forward = Self.frame(flow: k)
            templates.append(forward.bytes())
            templates.append(forward.reversed().bytes())
        }
        let start: UInt64 = 1_700_000_000 * 1_000_000_000
        for i in 0..<packets {
            let k = i % flows
            let round = i / flows
            // one packet every 2 µs
            try writer.append(templates[k * 2 + round % 2], timestampNs: start + UInt64(i) * 2_000)
        }
        try writer.close()
    }

    static func frame(flow k: Int) -> PacketBuilder {
        let payload = [UInt8](repeating: 0x42, count: 40 + (k % 8) * 100)
        let sport = UInt16(1024 + k % 60_000)
        let base: PacketBuilder
        if k % 4 == 3 {
            base = Packet.ethernet().ipv6(src: PacketBuilder.IPv6Address([0xFD, 0, 0xF1, 0x0E] + [UInt8](repeating: 0, count: 8) + Self.bytes(of: UInt32(k))),
                                          dst: "fd00:f10e::ffff")
        } else {
            base = Packet.ethernet().ipv4(src: PacketBuilder.IPv4Address([198, 18 | UInt8((k >> 16) & 1), UInt8((k >> 8) & 0xFF), UInt8(k & 0xFF)]),
                                          dst: "198.19.255.1")
        }
        return k % 3 == 2 ? base.udp(sport: sport, dport: 53, payload: payload)
                          : base.tcp(sport: sport, dport: 443, flags: [.ack, .psh], payload: payload)
    }

    static func bytes(of value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
