/// A pcap/pcapng LINKTYPE value (the low 16 bits of the header field; FCS bits are masked off).
///
/// Replay decodes the link layers a flow monitor meets in practice: Ethernet, raw IP, Linux cooked
/// capture (SLL, SLL2, what `tcpdump -i any` writes), BSD loopback, and the serial, wireless and ATM
/// framings whose header names the network protocol (PPP, Cisco HDLC, Frame Relay, SLIP, IEEE 802.11
/// with or without radiotap, ARCNET, ATM LLC/SNAP, IP over InfiniBand). Everything else is refused by name.
public struct CaptureLinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The LINKTYPE number.
    public let rawValue: UInt32

    /// Wraps a LINKTYPE number.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BSD loopback: a 4-byte address family in the writer's byte order (LINKTYPE_NULL).
    public static let null = CaptureLinkType(rawValue: 0)
    /// Ethernet II, optionally VLAN-tagged (LINKTYPE_ETHERNET).
    public static let ethernet = CaptureLinkType(rawValue: 1)
    /// Raw IP as some systems wrote DLT_RAW into files (12 on most BSDs).
    public static let rawBSD = CaptureLinkType(rawValue: 12)
    /// Raw IP as OpenBSD wrote DLT_RAW into files (14).
    public static let rawOpenBSD = CaptureLinkType(rawValue: 14)
    /// Raw IPv4 or IPv6, told apart by the version nibble (LINKTYPE_RAW).
    public static let raw = CaptureLinkType(rawValue: 101)
    /// OpenBSD loopback: a 4-byte address family in network byte order (LINKTYPE_LOOP).
    public static let loop = CaptureLinkType(rawValue: 108)
    /// Linux cooked capture v1, 16-byte header (LINKTYPE_LINUX_SLL).
    public static let linuxSLL = CaptureLinkType(rawValue: 113)
    /// Raw IPv4 only (LINKTYPE_IPV4).
    public static let ipv4 = CaptureLinkType(rawValue: 228)
    /// Raw IPv6 only (LINKTYPE_IPV6).
    public static let ipv6 = CaptureLinkType(rawValue: 229)
    /// Linux cooked capture v2, 20-byte header (LINKTYPE_LINUX_SLL2).
    public static let linuxSLL2 = CaptureLinkType(rawValue: 276)
    /// SLIP with libpcap's 16-byte pseudo-header (LINKTYPE_SLIP).
    public static let slip = CaptureLinkType(rawValue: 8)
    /// PPP, with or without HDLC-like framing (LINKTYPE_PPP).
    public static let ppp = CaptureLinkType(rawValue: 9)
    /// PPP in HDLC-like framing, or Cisco PPP (LINKTYPE_PPP_HDLC).
    public static let pppHDLC = CaptureLinkType(rawValue: 50)
    /// ATM with RFC 1483 LLC/SNAP encapsulation (LINKTYPE_ATM_RFC1483).
    public static let atmRFC1483 = CaptureLinkType(rawValue: 100)
    /// Cisco HDLC (LINKTYPE_C_HDLC).
    public static let ciscoHDLC = CaptureLinkType(rawValue: 104)
    /// IEEE 802.11 without a radio header (LINKTYPE_IEEE802_11).
    public static let ieee80211 = CaptureLinkType(rawValue: 105)
    /// Linux ATM Classical IP, LLC/SNAP (LINKTYPE_ATM_CLIP).
    public static let atmCLIP = CaptureLinkType(rawValue: 106)
    /// Frame Relay, Q.922 address then RFC 2427 or Cisco encapsulation (LINKTYPE_FRELAY).
    public static let frameRelay = CaptureLinkType(rawValue: 107)
    /// IEEE 802.11 behind a radiotap header (LINKTYPE_IEEE802_11_RADIOTAP).
    public static let radiotap = CaptureLinkType(rawValue: 127)
    /// ARCNET as Linux captures it (LINKTYPE_ARCNET_LINUX).
    public static let arcnetLinux = CaptureLinkType(rawValue: 129)
    /// IP over InfiniBand (LINKTYPE_IPOIB).
    public static let ipOverInfiniBand = CaptureLinkType(rawValue: 242)

    /// Every link type replay decodes.
    public static let supported: [CaptureLinkType] = [
        .null, .ethernet, .rawBSD, .rawOpenBSD, .raw, .loop, .linuxSLL, .ipv4, .ipv6, .linuxSLL2,
        .slip, .ppp, .pppHDLC, .atmRFC1483, .ciscoHDLC, .ieee80211, .atmCLIP, .frameRelay, .radiotap, .arcnetLinux, .ipOverInfiniBand,
    ]

    /// Whether replay decodes this link layer.
    public var isSupported: Bool { Self.supported.contains(self) }

    /// A readable name ("Ethernet", "IEEE 802.11 radiotap", ...; "unknown" for numbers without one).
    public var name: String {
        switch rawValue {
        case 0: return "BSD loopback (NULL)"
        case 1: return "Ethernet"
        case 12, 14, 101: return "raw IP"
        case 108: return "OpenBSD loopback (LOOP)"
        case 113: return "Linux cooked capture (SLL)"
        case 228: return "raw IPv4"
        case 229: return "raw IPv6"
        case 276: return "Linux cooked capture v2 (SLL2)"
        case 100: return "ATM RFC 1483 LLC/SNAP"
        case 106: return "Linux ATM Classical IP"
        case 242: return "IP over InfiniBand"
        case 6: return "IEEE 802.5 Token Ring"
        case 8: return "SLIP"
        case 9: return "PPP"
        case 10: return "FDDI"
        case 50: return "PPP in HDLC framing"
        case 51: return "PPPoE"
        case 104: return "Cisco HDLC"
        case 105: return "IEEE 802.11"
        case 107: return "Frame Relay"
        case 117: return "OpenBSD pflog"
        case 123: return "SunATM"
        case 130...137, 167, 178: return "Juniper"
        case 226: return "Solaris ipnet"
        case 231: return "D-Bus"
        case 119: return "Prism header + IEEE 802.11"
        case 127: return "IEEE 802.11 radiotap"
        case 129: return "ARCNET (Linux)"
        case 138: return "Apple IP-over-IEEE 1394"
        case 139: return "MTP2 with pseudo-header"
        case 143: return "DOCSIS"
        case 161...162: return "user-defined"
        case 147...160: return "user-defined"
        case 163: return "AVS + IEEE 802.11"
        case 187: return "Bluetooth HCI H4"
        case 189: return "USB (Linux)"
        case 192: return "PPI"
        case 195, 215, 230, 283: return "IEEE 802.15.4"
        case 201: return "Bluetooth HCI H4 with phdr"
        case 220: return "USB (Linux, memory-mapped)"
        case 239: return "netfilter NFLOG"
        case 249: return "USBPcap"
        case 253: return "netlink"
        default: return "unknown"
        }
    }

    /// "LINKTYPE 1 (Ethernet)".
    public var description: String { "\(rawValue) (\(name))" }
}
