extension PacketBuilder {
    /// RFC 1071 Internet checksum, shared by IPv4, TCP, UDP and ICMP (v4 and v6).
    public enum Checksum {
        /// The one's-complement checksum of `bytes` (an odd trailing byte is padded with zero).
        public static func compute(_ bytes: [UInt8]) -> UInt16 {
            ~fold(sum(bytes))
        }

        /// True when `bytes`, checksum field included, sum to 0xFFFF: what a receiver checks.
        public static func isValid(_ bytes: [UInt8]) -> Bool {
            compute(bytes) == 0
        }

        /// Checksum of an upper-layer segment over the IPv4 pseudo-header (RFC 793/768).
        public static func compute(segment: [UInt8], ipv4Source: IPv4Address, destination: IPv4Address, protocol number: UInt8) -> UInt16 {
            compute(pseudoHeader(ipv4Source: ipv4Source, destination: destination, protocol: number, length: segment.count) + segment)
        }

        /// Checksum of an upper-layer segment over the IPv6 pseudo-header (RFC 8200 section 8.1).
        public static func compute(segment: [UInt8], ipv6Source: IPv6Address, destination: IPv6Address, nextHeader: UInt8) -> UInt16 {
            compute(pseudoHeader(ipv6Source: ipv6Source, destination: destination, nextHeader: nextHeader, length: segment.count) + segment)
        }

        /// The 12-byte IPv4 pseudo-header; its length field is 16 bits, so huge segments wrap as on the wire.
        static func pseudoHeader(ipv4Source: IPv4Address, destination: IPv4Address, protocol number: UInt8, length: Int) -> [UInt8] {
            ipv4Source.bytes + destination.bytes + [0, number] + PacketBuilder.wire(UInt16(truncatingIfNeeded: length))
        }

        /// The 40-byte IPv6 pseudo-header with the 32-bit upper-layer length.
        static func pseudoHeader(ipv6Source: IPv6Address, destination: IPv6Address, nextHeader: UInt8, length: Int) -> [UInt8] {
            ipv6Source.bytes + destination.bytes + PacketBuilder.wire(UInt32(truncatingIfNeeded: length)) + [0, 0, 0, nextHeader]
        }

        /// Unfolded 32-bit sum of big-endian 16-bit words; a 64-bit accumulator cannot overflow for any frame size.
        private static func sum(_ bytes: [UInt8]) -> UInt64 {
            var total: UInt64 = 0
            var index = 0
            while index + 1 < bytes.count {
                total += UInt64(bytes[index]) << 8 | UInt64(bytes[index + 1])
                index += 2
            }
            if index < bytes.count {
                total += UInt64(bytes[index]) << 8
            }
            return total
        }

        private static func fold(_ value: UInt64) -> UInt16 {
            var total = value
            while total > 0xFFFF {
                total = (total & 0xFFFF) + (total >> 16)
            }
            return UInt16(total)
        }
    }
}

extension PacketBuilder {
    /// Network-order bytes of a 16-bit field.
    static func wire(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// Network-order bytes of a 32-bit field.
    static func wire(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
