/// A direction-independent hash of the flow key the generated program derives from a frame, so
/// replay can give every flow (both directions) to one worker and keep its packets in capture order.
///
/// It reads what `Templates/parse.h` keys on, the same way: up to 4 VLAN tags are skipped, IPv4 and
/// IPv6 addresses and protocol always count, ports count only where the program keys on them
/// (TCP, UDP, UDP-Lite and SCTP, not in later fragments; IPv6 after walking the same extension
/// headers). ICMP identifiers and type/code are left out: request and reply must meet on one worker.
/// Frames the program would not key give some value: where they go does not matter.
public enum CaptureFlowHash {
    /// A frame's flow hash and, for a TCP segment with its header captured, its flags byte (else 0).
    public struct Summary: Equatable, Sendable {
        /// The direction-independent flow hash.
        public var hash: UInt64
        /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, ...), 0 when the packet is no TCP segment.
        public var tcpFlags: UInt8

        /// Creates a summary.
        public init(hash: UInt64, tcpFlags: UInt8) {
            self.hash = hash
            self.tcpFlags = tcpFlags
        }
    }

    /// The hash of an Ethernet frame.
    @inline(__always)
    public static func hash(ethernetFrame frame: UnsafeRawBufferPointer) -> UInt64 {
        summary(ethernetFrame: frame).hash
    }

    /// The hash of a network-layer packet announced by `etherType`.
    @inline(__always)
    public static func hash(etherType: UInt16, network ip: UnsafeRawBufferPointer) -> UInt64 {
        summary(etherType: etherType, network: ip).hash
    }

    /// Hash and TCP flags of an Ethernet frame; with `tunnels` (a plan with the `tunnel` feature),
    /// of the inner packet of a tunnel, as `Templates/tunnel.h` finds it.
    @inline(__always)
    public static func summary(ethernetFrame frame: UnsafeRawBufferPointer, tunnels: Bool = false) -> Summary {
        guard frame.count >= 14 else { return Summary(hash: 0, tcpFlags: 0) }
        var etherType = be16(frame, 12)
        var offset = 14
        var tags = 0
        while (etherType == 0x8100 || etherType == 0x88A8) && tags < 4 {
            guard frame.count >= offset + 4 else { return Summary(hash: 0, tcpFlags: 0) }
            etherType = be16(frame, offset + 2)
            offset += 4
            tags += 1
        }
        return summary(etherType: etherType, network: UnsafeRawBufferPointer(rebasing: frame[offset...]), tunnels: tunnels)
    }

    /// Hash and TCP flags of a network-layer packet announced by `etherType` (`tunnels`: see above).
    @inline(__always)
    public static func summary(etherType: UInt16, network ip: UnsafeRawBufferPointer, tunnels: Bool = false) -> Summary {
        if etherType == 0x0800 {
            guard ip.count >= 20 else { return Summary(hash: 0, tcpFlags: 0) }
            let ihl = Int(ip[0] & 0x0F) * 4
            let proto = ip[9]
            let a = UInt64(ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            let b = UInt64(ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
            let fragmentOffset = be16(ip, 6) & 0x1FFF
            var pa: UInt64 = 0, pb: UInt64 = 0, flags: UInt8 = 0
            if tunnels && fragmentOffset == 0 && ihl >= 20, let inner = tunnelInner(ip, proto: proto, l4: ihl) {
                return inner
            }
            if fragmentOffset == 0 && hasPorts(proto) && ihl >= 20 && ip.count >= ihl + 4 {
                pa = UInt64(be16(ip, ihl))
                pb = UInt64(be16(ip, ihl + 2))
                if proto == 6 && ip.count >= ihl + 14 { flags = ip[ihl + 13] }
            }
            return Summary(hash: combine(mix(a, pa), mix(b, pb), proto: proto), tcpFlags: flags)
        }
        if etherType == 0x86DD {
            guard ip.count >= 40 else { return Summary(hash: 0, tcpFlags: 0) }
            let a = mix(ip.loadUnaligned(fromByteOffset: 8, as: UInt64.self), ip.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            let b = mix(ip.loadUnaligned(fromByteOffset: 24, as: UInt64.self), ip.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            var next = ip[6]
            var offset = 40
            var pa: UInt64 = 0, pb: UInt64 = 0, flags: UInt8 = 0
            walk: for _ in 0..<8 {
                switch next {
                case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
                    guard ip.count >= offset + 2 else { break walk }
                    next = ip[offset]
                    offset += (Int(ip[offset + 1]) + 1) * 8
                case 51: // AH
                    guard ip.count >= offset + 2 else { break walk }
                    next = ip[offset]
                    offset += (Int(ip[offset + 1]) + 2) * 4
                case 44: // fragment: later fragments are keyed without ports
                    guard ip.count >= offset + 8 else { break walk }
                    let later = be16(ip, offset + 2) & 0xFFF8 != 0
                    next = ip[offset]
                    offset += 8
                    if later { break walk }
                default:
                    if tunnels, let inner = tunnelInner(ip, proto: next, l4: offset) { return inner }
                    if hasPorts(next) && ip.count >= offset + 4 {
                        pa = UInt64(be16(ip, offset))
                        pb = UInt64(be16(ip, offset + 2))
                        if next == 6 && ip.count >= offset + 14 { flags = ip[offset + 13] }
                    }
                    break walk
                }
            }
            return Summary(hash: combine(mix(a, pa), mix(b, pb), proto: next), tcpFlags: flags)
        }
        return Summary(hash: UInt64(etherType), tcpFlags: 0)
    }

    /// The summary of the inner packet when the transport header at `l4` starts a tunnel
    /// `Templates/tunnel.h` decapsulates (VXLAN, Geneve, GRE, IP-in-IP), else nil.
    static func tunnelInner(_ ip: UnsafeRawBufferPointer, proto: UInt8, l4: Int) -> Summary? {
        var offset: Int, type: UInt16
        switch proto {
        case 17:
            guard ip.count >= l4 + 16 else { return nil }
            let port = be16(ip, l4 + 2), h = l4 + 8
            if port == 4789 || port == 8472 {
                guard ip[h] & 0x08 != 0 else { return nil }
                (offset, type) = (h + 8, 0x6558)
            } else if port == 6081 {
                guard ip[h] >> 6 == 0 else { return nil }
                (offset, type) = (h + 8 + Int(ip[h] & 0x3F) * 4, be16(ip, h + 2))
            } else {
                return nil
            }
        case 47:
            guard ip.count >= l4 + 4, ip[l4 + 1] & 0x07 == 0, ip[l4] & 0x40 == 0 else { return nil }
            let flags = ip[l4]
            offset = l4 + 4 + (flags & 0x80 != 0 ? 4 : 0) + (flags & 0x20 != 0 ? 4 : 0) + (flags & 0x10 != 0 ? 4 : 0)
            type = be16(ip, l4 + 2)
        case 4: (offset, type) = (l4, 0x0800)
        case 41: (offset, type) = (l4, 0x86DD)
        default: return nil
        }
        guard type == 0x0800 || type == 0x86DD || type == 0x6558, offset < ip.count else { return nil }
        let inner = UnsafeRawBufferPointer(rebasing: ip[offset...])
        if type == 0x6558 { return summary(ethernetFrame: inner) }
        return summary(etherType: type, network: inner)
    }

    @inline(__always)
    private static func hasPorts(_ proto: UInt8) -> Bool {
        proto == 6 || proto == 17 || proto == 136 || proto == 132
    }

    @inline(__always)
    private static func be16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// One endpoint (address, port) mixed into 64 bits (a multiply-xorshift finaliser).
    @inline(__always)
    private static func mix(_ address: UInt64, _ port: UInt64) -> UInt64 {
        var x = address ^ (port &* 0x9E37_79B9_7F4A_7C15)
        x ^= x >> 31
        x = x &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 29
        x = x &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 32)
    }

    /// Endpoints combined commutatively, so both directions hash alike.
    @inline(__always)
    private static func combine(_ a: UInt64, _ b: UInt64, proto: UInt8) -> UInt64 {
        mix(a &+ b, UInt64(proto))
    }
}
