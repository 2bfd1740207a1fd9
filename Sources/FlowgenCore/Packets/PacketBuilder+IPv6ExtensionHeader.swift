extension PacketBuilder {
    /// One IPv6 extension header; the builder fills in every next-header byte and length field.
    public enum IPv6ExtensionHeader: Sendable, Hashable {
        /// Hop-by-hop options (next header 0); options are padded to 8 bytes with Pad1/PadN.
        case hopByHop(options: [UInt8])
        /// Routing header (43); `data` follows the segments-left byte, zero-padded to 8 bytes.
        case routing(type: UInt8, segmentsLeft: UInt8, data: [UInt8])
        /// Fragment header (44); `offset` is in 8-octet units as on the wire (13 bits).
        case fragment(offset: UInt16, moreFragments: Bool, identification: UInt32)
        /// Destination options (60); options are padded to 8 bytes with Pad1/PadN.
        case destinationOptions(options: [UInt8])
        /// Authentication header (51); its length is counted in 4-octet units, unlike the others.
        case authentication(spi: UInt32, sequence: UInt32, icv: [UInt8])
        /// Any header written verbatim after its next-header byte, for malformed chains.
        case other(protocolNumber: UInt8, body: [UInt8])

        /// The protocol number the previous header's next-header field announces this header with.
        public var protocolNumber: UInt8 {
            switch self {
            case .hopByHop: return 0
            case .routing: return 43
            case .fragment: return 44
            case .destinationOptions: return 60
            case .authentication: return 51
            case .other(let number, _): return number
            }
        }

        /// The header's wire bytes, given the protocol number of what follows it.
        public func bytes(nextHeader: UInt8) -> [UInt8] {
            switch self {
            case .hopByHop(let options), .destinationOptions(let options):
                let body = options + Self.optionPadding(count: (8 - (2 + options.count) % 8) % 8)
                return [nextHeader, UInt8(truncatingIfNeeded: (2 + body.count) / 8 - 1)] + body
            case .routing(let type, let segmentsLeft, let data):
                let padded = data + Array(repeating: 0, count: (8 - (4 + data.count) % 8) % 8)
                return [nextHeader, UInt8(truncatingIfNeeded: (4 + padded.count) / 8 - 1), type, segmentsLeft] + padded
            case .fragment(let offset, let more, let identification):
                let field = (offset & 0x1FFF) << 3 | (more ? 1 : 0)
                return [nextHeader, 0] + PacketBuilder.wire(field) + PacketBuilder.wire(identification)
            case .authentication(let spi, let sequence, let icv):
                let total = 12 + icv.count
                return [nextHeader, UInt8(truncatingIfNeeded: total / 4 - 2), 0, 0]
                    + PacketBuilder.wire(spi) + PacketBuilder.wire(sequence) + icv
            case .other(_, let body):
                return [nextHeader] + body
            }
        }

        /// Pad1 for one byte, PadN otherwise (RFC 8200 section 4.2), so option parsers see a valid TLV list.
        private static func optionPadding(count: Int) -> [UInt8] {
            switch count {
            case 0: return []
            case 1: return [0]
            default: return [1, UInt8(count - 2)] + Array(repeating: 0, count: count - 2)
            }
        }
    }
}
