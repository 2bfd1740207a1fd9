extension PacketBuilder {
    /// The addresses a transport checksum covers, taken from the enclosing IP header.
    enum PseudoHeader {
        case ipv4(IPv4Address, IPv4Address)
        case ipv6(IPv6Address, IPv6Address)

        /// Checksum of `segment` (checksum field zeroed) over this pseudo-header.
        func checksum(_ segment: [UInt8], protocolNumber: UInt8) -> UInt16 {
            switch self {
            case .ipv4(let source, let destination):
                return Checksum.compute(segment: segment, ipv4Source: source, destination: destination, protocol: protocolNumber)
            case .ipv6(let source, let destination):
                return Checksum.compute(segment: segment, ipv6Source: source, destination: destination, nextHeader: protocolNumber)
            }
        }
    }

    /// A serialised transport layer and the length of its header (the payload starts after it).
    struct Segment {
        var bytes: [UInt8]
        var headerLength: Int
    }

    /// Puts a computed checksum at `offset` unless the caller fixed one.
    static func fillChecksum(_ segment: inout [UInt8], at offset: Int, override: UInt16?, compute: ([UInt8]) -> UInt16) {
        let value = override ?? compute(segment)
        segment[offset] = UInt8(value >> 8)
        segment[offset + 1] = UInt8(truncatingIfNeeded: value)
    }
}

extension PacketBuilder.Transport {
    /// The IP protocol number announcing this layer.
    var protocolNumber: UInt8 {
        switch self {
        case .tcp: return 6
        case .udp: return 17
        case .icmpv4: return 1
        case .icmpv6: return 58
        case .opaque(let number, _): return number
        }
    }

    /// Serialises the layer; the pseudo-header supplies what TCP, UDP and ICMPv6 checksums cover.
    func segment(pseudoHeader: PacketBuilder.PseudoHeader) -> PacketBuilder.Segment {
        switch self {
        case .tcp(let fields): return fields.segment(pseudoHeader: pseudoHeader)
        case .udp(let fields): return fields.segment(pseudoHeader: pseudoHeader)
        case .icmpv4(let fields): return fields.segment(pseudoHeader: nil, protocolNumber: 1)
        case .icmpv6(let fields): return fields.segment(pseudoHeader: pseudoHeader, protocolNumber: 58)
        case .opaque(_, let payload): return PacketBuilder.Segment(bytes: payload, headerLength: 0)
        }
    }
}

extension PacketBuilder {
    /// Ends the IP packet with an opaque payload under any protocol number (GRE 47, ESP 50, a non-first fragment, ...).
    public func ipPayload(protocol number: UInt8, _ payload: [UInt8]) -> PacketBuilder {
        withTransport(.opaque(protocolNumber: number, payload: payload), caller: "ipPayload()")
    }
}
