import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// The packet classes the kernel section measures: IPv4/IPv6 × TCP/UDP/ICMP, one small frame each,
/// addressed inside 198.18.0.0/15 and fd00::/8 (test runs never reach a wire, but stay in range anyway).
public enum BenchTraffic: String, CaseIterable, Codable, Sendable {
    /// IPv4 TCP, ACK with 64 bytes of payload.
    case ipv4TCP = "ipv4/tcp"
    /// IPv4 UDP, 64 bytes of payload.
    case ipv4UDP = "ipv4/udp"
    /// IPv4 ICMP echo request.
    case ipv4ICMP = "ipv4/icmp"
    /// IPv6 TCP, ACK with 64 bytes of payload.
    case ipv6TCP = "ipv6/tcp"
    /// IPv6 UDP, 64 bytes of payload.
    case ipv6UDP = "ipv6/udp"
    /// ICMPv6 echo request.
    case ipv6ICMP = "ipv6/icmp"

    /// The frame's bytes.
    public var frame: [UInt8] {
        let payload = [UInt8](repeating: 0x5A, count: 64)
        let v4 = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2")
        let v6 = Packet.ethernet().ipv6(src: "fd00:f10e::1", dst: "fd00:f10e::2")
        switch self {
        case .ipv4TCP: return v4.tcp(sport: 40000, dport: 443, seq: 1000, ack: 2000, flags: [.ack, .psh], payload: payload).bytes()
        case .ipv4UDP: return v4.udp(sport: 40000, dport: 53, payload: payload).bytes()
        case .ipv4ICMP: return v4.icmpv4(type: 8, identifier: 77, sequence: 1, payload: payload).bytes()
        case .ipv6TCP: return v6.tcp(sport: 40000, dport: 443, seq: 1000, ack: 2000, flags: [.ack, .psh], payload: payload).bytes()
        case .ipv6UDP: return v6.udp(sport: 40000, dport: 53, payload: payload).bytes()
        case .ipv6ICMP: return v6.icmpv6(type: 128, identifier: 77, sequence: 1, payload: payload).bytes()
        }
    }
}
