extension PacketBuilder {
    /// UDP header fields; nil overrides mean "compute".
    struct UDPFields: Sendable, Hashable {
        var sourcePort: UInt16
        var destinationPort: UInt16
        var payload: [UInt8]
        var length: UInt16?
        var checksum: UInt16?

        func segment(pseudoHeader: PseudoHeader) -> Segment {
            let length = self.length ?? UInt16(truncatingIfNeeded: 8 + payload.count)
            var bytes = PacketBuilder.wire(sourcePort) + PacketBuilder.wire(destinationPort)
                + PacketBuilder.wire(length) + [0, 0] + payload
            PacketBuilder.fillChecksum(&bytes, at: 6, override: checksum) {
                // A computed zero goes out as 0xFFFF: zero on the wire means "no checksum" (RFC 768).
                let sum = pseudoHeader.checksum($0, protocolNumber: 17)
                return sum == 0 ? 0xFFFF : sum
            }
            return Segment(bytes: bytes, headerLength: 8)
        }
    }

    /// Adds a UDP datagram; pass `checksum: 0` for "no checksum" over IPv4, `length` to lie about the size.
    public func udp(
        sport: UInt16 = 40000,
        dport: UInt16 = 53,
        payload: [UInt8] = [],
        length: UInt16? = nil,
        checksum: UInt16? = nil
    ) -> PacketBuilder {
        let fields = UDPFields(sourcePort: sport, destinationPort: dport, payload: payload, length: length, checksum: checksum)
        return withTransport(.udp(fields), caller: "udp()")
    }
}
