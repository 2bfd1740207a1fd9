/// The information elements flowgen knows by type: a subset of the IANA "IPFIX Information
/// Elements" registry (what its own key fields use and what feature modules are likely to declare),
/// and the ntop (nProbe, PEN 35632) elements built-in modules declare, with their lengths and their
/// explicit reverse ("_OUT") elements, since ntop does not follow RFC 5103's reverse bit. An element
/// a module declares that is not listed here is encoded with its field's size.
public enum IPFIXElementCatalog {
    /// An entry: id, name, abstract data type and, for enterprise elements, the reverse element's id.
    public struct Entry: Sendable, Equatable {
        /// Element id.
        public var id: UInt16
        /// IANA (or the enterprise's) name.
        public var name: String
        /// Abstract data type.
        public var type: IPFIXDataType
        /// The enterprise's element for the other direction, when it defines one.
        public var reverseID: UInt16?
        /// Name of that reverse element.
        public var reverseName: String?
    }

    /// ntop's private enterprise number (nProbe, ntopng).
    public static let ntopEnterpriseNumber: UInt32 = 35632

    // The ids flowgen's own template fields use.

    /// octetDeltaCount.
    public static let octetDeltaCount: UInt16 = 1
    /// packetDeltaCount.
    public static let packetDeltaCount: UInt16 = 2
    /// protocolIdentifier.
    public static let protocolIdentifier: UInt16 = 4
    /// sourceTransportPort.
    public static let sourceTransportPort: UInt16 = 7
    /// sourceIPv4Address.
    public static let sourceIPv4Address: UInt16 = 8
    /// destinationTransportPort.
    public static let destinationTransportPort: UInt16 = 11
    /// destinationIPv4Address.
    public static let destinationIPv4Address: UInt16 = 12
    /// sourceIPv6Address.
    public static let sourceIPv6Address: UInt16 = 27
    /// destinationIPv6Address.
    public static let destinationIPv6Address: UInt16 = 28
    /// icmpTypeCodeIPv4.
    public static let icmpTypeCodeIPv4: UInt16 = 32
    /// flowEndReason.
    public static let flowEndReason: UInt16 = 136
    /// icmpTypeCodeIPv6.
    public static let icmpTypeCodeIPv6: UInt16 = 139
    /// flowId.
    public static let flowId: UInt16 = 148
    /// flowStartMilliseconds.
    public static let flowStartMilliseconds: UInt16 = 152
    /// flowEndMilliseconds.
    public static let flowEndMilliseconds: UInt16 = 153
    /// biflowDirection.
    public static let biflowDirection: UInt16 = 239

    /// Known elements by id.
    public static let byID: [UInt16: Entry] = {
        let list: [(UInt16, String, IPFIXDataType)] = [
            (1, "octetDeltaCount", .unsigned64), (2, "packetDeltaCount", .unsigned64),
            (3, "deltaFlowCount", .unsigned64), (4, "protocolIdentifier", .unsigned8),
            (5, "ipClassOfService", .unsigned8), (6, "tcpControlBits", .unsigned16),
            (7, "sourceTransportPort", .unsigned16), (8, "sourceIPv4Address", .ipv4Address),
            (9, "sourceIPv4PrefixLength", .unsigned8), (10, "ingressInterface", .unsigned32),
            (11, "destinationTransportPort", .unsigned16), (12, "destinationIPv4Address", .ipv4Address),
            (13, "destinationIPv4PrefixLength", .unsigned8), (14, "egressInterface", .unsigned32),
            (25, "minimumIpTotalLength", .unsigned64), (26, "maximumIpTotalLength", .unsigned64),
            (27, "sourceIPv6Address", .ipv6Address), (28, "destinationIPv6Address", .ipv6Address),
            (31, "flowLabelIPv6", .unsigned32), (32, "icmpTypeCodeIPv4", .unsigned16),
            (52, "minimumTTL", .unsigned8), (53, "maximumTTL", .unsigned8),
            (54, "fragmentIdentification", .unsigned32), (55, "postIpClassOfService", .unsigned8),
            (58, "vlanId", .unsigned16), (60, "ipVersion", .unsigned8),
            (61, "flowDirection", .unsigned8), (64, "ipv6ExtensionHeaders", .unsigned32),
            (85, "octetTotalCount", .unsigned64), (86, "packetTotalCount", .unsigned64),
            (136, "flowEndReason", .unsigned8), (139, "icmpTypeCodeIPv6", .unsigned16),
            (148, "flowId", .unsigned64),
            (150, "flowStartSeconds", .dateTimeSeconds), (151, "flowEndSeconds", .dateTimeSeconds),
            (152, "flowStartMilliseconds", .dateTimeMilliseconds), (153, "flowEndMilliseconds", .dateTimeMilliseconds),
            (154, "flowStartMicroseconds", .dateTimeMicroseconds), (155, "flowEndMicroseconds", .dateTimeMicroseconds),
            (156, "flowStartNanoseconds", .dateTimeNanoseconds), (157, "flowEndNanoseconds", .dateTimeNanoseconds),
            (161, "flowDurationMilliseconds", .unsigned32), (162, "flowDurationMicroseconds", .unsigned32),
            (176, "icmpTypeIPv4", .unsigned8), (177, "icmpCodeIPv4", .unsigned8),
            (178, "icmpTypeIPv6", .unsigned8), (179, "icmpCodeIPv6", .unsigned8),
            (184, "tcpSequenceNumber", .unsigned32), (185, "tcpAcknowledgementNumber", .unsigned32),
            (186, "tcpWindowSize", .unsigned16), (189, "ipHeaderLength", .unsigned8),
            (190, "totalLengthIPv4", .unsigned16), (192, "ipTTL", .unsigned8),
            (195, "ipDiffServCodePoint", .unsigned8), (196, "ipPrecedence", .unsigned8),
            (197, "fragmentFlags", .unsigned8), (204, "ipPayloadLength", .unsigned32),
            (205, "udpMessageLength", .unsigned16), (206, "isMulticast", .unsigned8),
            (218, "tcpSynTotalCount", .unsigned64), (219, "tcpFinTotalCount", .unsigned64),
            (220, "tcpRstTotalCount", .unsigned64), (221, "tcpPshTotalCount", .unsigned64),
            (222, "tcpAckTotalCount", .unsigned64), (223, "tcpUrgTotalCount", .unsigned64),
            (224, "ipTotalLength", .unsigned64), (231, "initiatorOctets", .unsigned64),
            (232, "responderOctets", .unsigned64), (239, "biflowDirection", .unsigned8),
            (298, "initiatorPackets", .unsigned64), (299, "responderPackets", .unsigned64),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.0, Entry(id: $0.0, name: $0.1, type: $0.2)) })
    }()

    /// ntop elements (nProbe's documented ids and lengths) as forward/reverse pairs.
    public static let ntop: [UInt16: Entry] = {
        let list: [(UInt16, String, IPFIXDataType, UInt16?, String?)] = [
            (107, "LONGEST_FLOW_PKT", .unsigned16, nil, nil), (108, "SHORTEST_FLOW_PKT", .unsigned16, nil, nil),
            (109, "RETRANSMITTED_IN_PKTS", .unsigned32, 110, "RETRANSMITTED_OUT_PKTS"),
            (127, "RETRANSMITTED_IN_BYTES", .unsigned32, 128, "RETRANSMITTED_OUT_BYTES"),
            (111, "OOORDER_IN_PKTS", .unsigned32, 112, "OOORDER_OUT_PKTS"),
            (415, "TCP_WIN_MIN_IN", .unsigned16, 419, "TCP_WIN_MIN_OUT"), (416, "TCP_WIN_MAX_IN", .unsigned16, 420, "TCP_WIN_MAX_OUT"),
            (417, "TCP_WIN_MSS_IN", .unsigned16, 421, "TCP_WIN_MSS_OUT"), (418, "TCP_WIN_SCALE_IN", .unsigned8, 422, "TCP_WIN_SCALE_OUT"),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.0, Entry(id: $0.0, name: $0.1, type: $0.2, reverseID: $0.3, reverseName: $0.4)) })
    }()

    /// The entry of an IANA element, if flowgen knows it.
    public static func entry(_ id: UInt16) -> Entry? { byID[id] }

    /// The entry of an element of any enterprise (0: IANA), if flowgen knows it.
    public static func entry(_ id: UInt16, enterprise: UInt32) -> Entry? {
        switch enterprise {
        case 0: return byID[id]
        case ntopEnterpriseNumber: return ntop[id]
        default: return nil
        }
    }
}
