extension PacketBuilder {
    /// IPv6 fixed-header fields and the extension chain; nil overrides mean "compute".
    struct IPv6Fields: Sendable, Hashable {
        var source: IPv6Address
        var destination: IPv6Address
        var trafficClass: UInt8
        var flowLabel: UInt32
        var hopLimit: UInt8
        var payloadLength: UInt16?
        var nextHeader: UInt8?
        var extensionHeaders: [IPv6ExtensionHeader]
        var version: UInt8

        /// The fixed header and every extension header, chained, for an upper layer of `upperLength` bytes.
        func headers(upperLength: Int, upperProtocol: UInt8?) -> [UInt8] {
            // 59 is "No Next Header", the honest value when nothing follows.
            let upper = upperProtocol ?? 59
            var chain: [UInt8] = []
            for (index, header) in extensionHeaders.enumerated() {
                let next = index + 1 < extensionHeaders.count ? extensionHeaders[index + 1].protocolNumber : upper
                chain += header.bytes(nextHeader: next)
            }
            let first = nextHeader ?? extensionHeaders.first?.protocolNumber ?? upper
            let length = payloadLength ?? UInt16(truncatingIfNeeded: chain.count + upperLength)
            let word = UInt32(version & 0xF) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xF_FFFF)
            return PacketBuilder.wire(word) + PacketBuilder.wire(length) + [first, hopLimit]
                + source.bytes + destination.bytes + chain
        }
    }

    /// Adds an IPv6 header; `nextHeader` overrides the fixed header's value, `payloadLength` the computed one.
    public func ipv6(
        src: IPv6Address = "fd00::1",
        dst: IPv6Address = "fd00::2",
        trafficClass: UInt8 = 0,
        flowLabel: UInt32 = 0,
        hopLimit: UInt8 = 64,
        payloadLength: UInt16? = nil,
        nextHeader: UInt8? = nil,
        extensionHeaders: [IPv6ExtensionHeader] = [],
        version: UInt8 = 6
    ) -> PacketBuilder {
        precondition(network == nil, "ipv6(): the packet already has a network layer")
        var copy = self
        copy.network = .ipv6(IPv6Fields(
            source: src, destination: dst, trafficClass: trafficClass, flowLabel: flowLabel, hopLimit: hopLimit,
            payloadLength: payloadLength, nextHeader: nextHeader, extensionHeaders: extensionHeaders, version: version))
        return copy
    }

    /// Appends an IPv6 extension header after those already present.
    public func extensionHeader(_ header: IPv6ExtensionHeader) -> PacketBuilder {
        guard case .ipv6(var fields) = network else { preconditionFailure("extension headers need ipv6() first") }
        precondition(transport == nil, "add extension headers before the transport layer")
        fields.extensionHeaders.append(header)
        var copy = self
        copy.network = .ipv6(fields)
        return copy
    }

    /// Appends a hop-by-hop options header (padded to 8 bytes).
    public func hopByHop(options: [UInt8] = []) -> PacketBuilder {
        extensionHeader(.hopByHop(options: options))
    }

    /// Appends a routing header; the default data is the 4 reserved bytes of an empty type 0 header.
    public func routing(type: UInt8 = 0, segmentsLeft: UInt8 = 0, data: [UInt8] = [0, 0, 0, 0]) -> PacketBuilder {
        extensionHeader(.routing(type: type, segmentsLeft: segmentsLeft, data: data))
    }

    /// Appends a destination options header (padded to 8 bytes).
    public func destinationOptions(options: [UInt8] = []) -> PacketBuilder {
        extensionHeader(.destinationOptions(options: options))
    }

    /// Appends an IPv6 fragment header; `offset` is in 8-octet units.
    public func fragment(offset: UInt16 = 0, moreFragments: Bool = false, identification: UInt32 = 0) -> PacketBuilder {
        extensionHeader(.fragment(offset: offset, moreFragments: moreFragments, identification: identification))
    }
}
