extension PacketBuilder {
    /// IPv4 header fields; nil overrides mean "compute".
    struct IPv4Fields: Sendable, Hashable {
        var source: IPv4Address
        var destination: IPv4Address
        var ttl: UInt8
        var tos: UInt8
        var identification: UInt16
        var flags: IPv4Flags
        var fragmentOffset: UInt16
        var options: [UInt8]
        var ihl: UInt8?
        var totalLength: UInt16?
        var protocolNumber: UInt8?
        var checksum: UInt16?
        var version: UInt8

        /// The header (options included) for an upper layer of `upperLength` bytes.
        func header(upperLength: Int, upperProtocol: UInt8?) -> [UInt8] {
            // Options are padded with end-of-option-list bytes so the IHL is a whole number of words.
            let options = self.options + Array(repeating: 0, count: (4 - self.options.count % 4) % 4)
            let length = 20 + options.count
            let ihl = self.ihl ?? UInt8(truncatingIfNeeded: length / 4)
            let total = totalLength ?? UInt16(truncatingIfNeeded: length + upperLength)
            let fragmentField = UInt16(flags.rawValue) << 13 | (fragmentOffset & 0x1FFF)
            // 255 (reserved) when nothing follows, so such a header never looks like TCP or UDP.
            let number = protocolNumber ?? upperProtocol ?? 255
            var bytes = [(version & 0xF) << 4 | (ihl & 0xF), tos] + PacketBuilder.wire(total)
                + PacketBuilder.wire(identification) + PacketBuilder.wire(fragmentField)
                + [ttl, number, 0, 0] + source.bytes + destination.bytes + options
            // The checksum covers the bytes written, which is what IHL says unless IHL was overridden.
            PacketBuilder.fillChecksum(&bytes, at: 10, override: checksum) { Checksum.compute($0) }
            return bytes
        }
    }

    /// Adds an IPv4 header; `fragmentOffset` is in 8-octet units, `ihl` in words, `protocol` overrides the transport's.
    public func ipv4(
        src: IPv4Address = "198.18.0.1",
        dst: IPv4Address = "198.18.0.2",
        ttl: UInt8 = 64,
        tos: UInt8 = 0,
        id: UInt16 = 0,
        flags: IPv4Flags = [],
        fragmentOffset: UInt16 = 0,
        options: [UInt8] = [],
        ihl: UInt8? = nil,
        totalLength: UInt16? = nil,
        protocol number: UInt8? = nil,
        checksum: UInt16? = nil,
        version: UInt8 = 4
    ) -> PacketBuilder {
        precondition(network == nil, "ipv4(): the packet already has a network layer")
        var copy = self
        copy.network = .ipv4(IPv4Fields(
            source: src, destination: dst, ttl: ttl, tos: tos, identification: id, flags: flags,
            fragmentOffset: fragmentOffset, options: options, ihl: ihl, totalLength: totalLength,
            protocolNumber: number, checksum: checksum, version: version))
        return copy
    }
}
