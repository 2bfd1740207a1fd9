/// How a captured packet becomes the Ethernet frame the generated TC program parses.
///
/// Ethernet captures are used as they are. For the other link layers the link header is replaced by
/// a 14-byte Ethernet header (zero MAC addresses) whose ethertype says what the link header said:
/// raw IP and SLIP by the version nibble, Linux cooked captures by their protocol field, BSD
/// loopback by its address family, PPP by its protocol number, Cisco HDLC, Frame Relay, 802.11,
/// ATM, ARCNET and IPoIB by their ethertype, NLPID, LLC/SNAP header or protocol id. Frames that
/// carry no network protocol an ethertype can name (802.11 management frames, PPP LCP, ...) are `notIP`.
public enum EthernetFraming: Equatable, Sendable {
    /// The packet already is an Ethernet frame.
    case ethernet
    /// Prepend an Ethernet header with `etherType` to the bytes from `payloadOffset` on.
    case prepend(etherType: UInt16, payloadOffset: Int)
    /// The link header names no network protocol (loopback family other than IP, cooked netlink, 802.2 LLC, ...).
    case notIP
    /// The packet ends inside its link header.
    case truncated

    /// Ethernet header length.
    public static let headerLength = 14

    /// Decides how to frame `bytes` captured on `linkType` (one of `CaptureLinkType.supported`).
    @inline(__always)
    public static func classify(_ bytes: UnsafeRawBufferPointer, linkType: CaptureLinkType) -> EthernetFraming {
        switch linkType.rawValue {
        case 1:
            return .ethernet
        case 101, 12, 14:
            guard let first = bytes.first else { return .truncated }
            switch first >> 4 {
            case 4: return .prepend(etherType: 0x0800, payloadOffset: 0)
            case 6: return .prepend(etherType: 0x86DD, payloadOffset: 0)
            default: return .notIP
            }
        case 228:
            return .prepend(etherType: 0x0800, payloadOffset: 0)
        case 229:
            return .prepend(etherType: 0x86DD, payloadOffset: 0)
        case 113:
            guard bytes.count >= 16 else { return .truncated }
            return cooked(hardwareType: bigEndian16(bytes, 2), protocol: bigEndian16(bytes, 14), headerLength: 16)
        case 276:
            guard bytes.count >= 20 else { return .truncated }
            return cooked(hardwareType: bigEndian16(bytes, 8), protocol: bigEndian16(bytes, 0), headerLength: 20)
        case 8, 9, 50, 100, 104, 106, 107, 129, 242:
            return serial(bytes, linkType: linkType)
        case 105:
            return ieee80211(bytes, at: 0, dataPad: false)
        case 127:
            return radiotap(bytes)
        case 0, 108:
            guard bytes.count >= 4 else { return .truncated }
            var family = bytes.loadUnaligned(as: UInt32.self)
            if linkType.rawValue == 108 {
                family = UInt32(bigEndian: family)
            } else if family & 0xFFFF_0000 != 0 {
                family = family.byteSwapped // written on a host of the other byte order
            }
            switch family {
            case 2: return .prepend(etherType: 0x0800, payloadOffset: 4)
            // AF_INET6 differs by system: Linux 10, Windows 23, Net/OpenBSD 24, FreeBSD 28, Darwin 30
            case 10, 23, 24, 28, 30: return .prepend(etherType: 0x86DD, payloadOffset: 4)
            default: return .notIP
            }
        default:
            return .notIP
        }
    }

    /// Linux cooked headers carry an ethertype, except for netlink (ARPHRD 824) and values below
    /// 0x0600, which are Linux's pseudo-protocols (802.2 LLC, 802.3 without LLC, CAN, ...).
    static func cooked(hardwareType: UInt16, protocol value: UInt16, headerLength: Int) -> EthernetFraming {
        if hardwareType == 824 || value < 0x0600 { return .notIP }
        return .prepend(etherType: value, payloadOffset: headerLength)
    }

    @inline(__always)
    static func bigEndian16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// The Ethernet frame for `bytes` (copied; for tests and one-off use: replay frames into a reused buffer).
    public static func frame(_ bytes: [UInt8], linkType: CaptureLinkType) -> [UInt8]? {
        bytes.withUnsafeBytes { raw in
            switch classify(raw, linkType: linkType) {
            case .ethernet:
                return bytes
            case let .prepend(etherType, payloadOffset):
                return [UInt8](repeating: 0, count: 12) + [UInt8(etherType >> 8), UInt8(etherType & 0xFF)] + bytes[payloadOffset...]
            case .notIP, .truncated:
                return nil
            }
        }
    }
}
