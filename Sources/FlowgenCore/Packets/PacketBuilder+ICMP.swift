extension PacketBuilder {
    /// ICMPv4/ICMPv6 header fields; identifier and sequence form the 4-byte rest-of-header of every type.
    struct ICMPFields: Sendable, Hashable {
        var type: UInt8
        var code: UInt8
        var identifier: UInt16
        var sequence: UInt16
        var payload: [UInt8]
        var checksum: UInt16?

        /// ICMPv4 sums the message alone (nil pseudo-header); ICMPv6 adds the IPv6 pseudo-header.
        func segment(pseudoHeader: PseudoHeader?, protocolNumber: UInt8) -> Segment {
            var bytes = [type, code, 0, 0] + PacketBuilder.wire(identifier) + PacketBuilder.wire(sequence) + payload
            PacketBuilder.fillChecksum(&bytes, at: 2, override: checksum) { segment in
                pseudoHeader?.checksum(segment, protocolNumber: protocolNumber) ?? Checksum.compute(segment)
            }
            return Segment(bytes: bytes, headerLength: 8)
        }
    }

    /// Adds an ICMPv4 message (default: echo request); the checksum covers the message only.
    public func icmpv4(
        type: UInt8 = 8,
        code: UInt8 = 0,
        identifier: UInt16 = 0,
        sequence: UInt16 = 0,
        payload: [UInt8] = [],
        checksum: UInt16? = nil
    ) -> PacketBuilder {
        let fields = ICMPFields(type: type, code: code, identifier: identifier, sequence: sequence, payload: payload, checksum: checksum)
        return withTransport(.icmpv4(fields), caller: "icmpv4()")
    }

    /// Adds an ICMPv6 message (default: echo request); the checksum includes the IPv6 pseudo-header.
    public func icmpv6(
        type: UInt8 = 128,
        code: UInt8 = 0,
        identifier: UInt16 = 0,
        sequence: UInt16 = 0,
        payload: [UInt8] = [],
        checksum: UInt16? = nil
    ) -> PacketBuilder {
        let fields = ICMPFields(type: type, code: code, identifier: identifier, sequence: sequence, payload: payload, checksum: checksum)
        return withTransport(.icmpv6(fields), caller: "icmpv6()")
    }
}
