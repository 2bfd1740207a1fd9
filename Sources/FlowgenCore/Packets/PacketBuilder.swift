/// Short name for the builder, so tests read `Packet.ethernet().ipv4(...).tcp(...).bytes()`.
public typealias Packet = PacketBuilder

/// Builds wire-format frames for tests, benchmarks and replay fixtures.
///
/// A value type with fluent methods, outermost layer first: link (Ethernet with any number of
/// VLAN tags, or raw IP), network (IPv4, IPv6 with extension headers, or another ethertype),
/// transport (TCP, UDP, ICMPv4, ICMPv6, or an opaque protocol). Lengths and checksums are
/// computed unless overridden, so malformed frames are built by overriding exactly one field.
/// Invalid builder use (a transport without a network layer, a bad address literal) traps:
/// it is a bug in the test, not a condition to handle.
public struct PacketBuilder: Sendable, Hashable {
    /// The frame's first header, with the pcap LINKTYPE value replay must write for it.
    public enum LinkType: UInt32, Sendable, Hashable {
        /// Ethernet II, optionally VLAN-tagged (LINKTYPE_ETHERNET).
        case ethernet = 1
        /// The frame starts with the IPv4 or IPv6 header (LINKTYPE_RAW).
        case rawIP = 101
    }

    /// Where each layer starts in the built (untruncated) frame, for tests that poke at fields.
    public struct Layout: Sendable, Hashable {
        /// Offset of the IP (or other ethertype) header: the link header length.
        public let networkOffset: Int
        /// Offset of the transport header (after IPv4 options or IPv6 extension headers); nil without one.
        public let transportOffset: Int?
        /// Offset of the transport payload; nil without a transport layer.
        public let payloadOffset: Int?
        /// Length of the frame `bytes()` returns (after padding and truncation).
        public let length: Int
    }

    /// Ethernet header fields; the VLAN tags are listed outermost first.
    struct Ethernet: Sendable, Hashable {
        var source: MACAddress
        var destination: MACAddress
        var tags: [VLANTag]
        var etherType: UInt16?
    }

    /// The layer after the link header.
    enum Network: Sendable, Hashable {
        case ipv4(IPv4Fields)
        case ipv6(IPv6Fields)
        case other(etherType: UInt16, payload: [UInt8])
    }

    /// The layer carried by IP.
    enum Transport: Sendable, Hashable {
        case tcp(TCPFields)
        case udp(UDPFields)
        case icmpv4(ICMPFields)
        case icmpv6(ICMPFields)
        case opaque(protocolNumber: UInt8, payload: [UInt8])
    }

    /// A byte range overwritten after building, for corruptions the typed overrides do not cover.
    struct Patch: Sendable, Hashable {
        var offset: Int
        var bytes: [UInt8]
    }

    /// The link layer the frame starts with.
    public let linkType: LinkType
    var ethernet: Ethernet?
    var network: Network?
    var transport: Transport?
    var patches: [Patch] = []
    var minimumLength: Int?
    var truncation: Int?

    private init(linkType: LinkType, ethernet: Ethernet?) {
        self.linkType = linkType
        self.ethernet = ethernet
    }

    // MARK: Link layer

    /// Starts an Ethernet frame; the ethertype follows the next layer unless `etherType` overrides it.
    public static func ethernet(
        src: MACAddress = "02:00:00:00:00:01",
        dst: MACAddress = "02:00:00:00:00:02",
        etherType: UInt16? = nil
    ) -> PacketBuilder {
        PacketBuilder(linkType: .ethernet, ethernet: Ethernet(source: src, destination: dst, tags: [], etherType: etherType))
    }

    /// Starts a frame without a link header (pcap LINKTYPE_RAW), beginning with the IP header.
    public static func raw() -> PacketBuilder {
        PacketBuilder(linkType: .rawIP, ethernet: nil)
    }

    /// Appends a VLAN tag inside the ones already present (call outermost first; any depth).
    public func vlan(_ id: UInt16, priority: UInt8 = 0, dropEligible: Bool = false, tpid: UInt16 = VLANTag.dot1Q) -> PacketBuilder {
        vlan(VLANTag(id: id, priority: priority, dropEligible: dropEligible, tpid: tpid))
    }

    /// Appends a prepared VLAN tag inside the ones already present.
    public func vlan(_ tag: VLANTag) -> PacketBuilder {
        var copy = self
        guard copy.ethernet != nil else { preconditionFailure("vlan() needs an Ethernet frame, not raw()") }
        copy.ethernet!.tags.append(tag)
        return copy
    }

    /// Appends an 802.1ad service tag followed by an 802.1Q customer tag (QinQ).
    public func qinq(outer: UInt16, inner: UInt16) -> PacketBuilder {
        vlan(outer, tpid: VLANTag.dot1AD).vlan(inner, tpid: VLANTag.dot1Q)
    }

    /// Overrides the innermost ethertype (e.g. announce IPv6 over an IPv4 header).
    public func etherType(_ value: UInt16) -> PacketBuilder {
        var copy = self
        guard copy.ethernet != nil else { preconditionFailure("etherType() needs an Ethernet frame, not raw()") }
        copy.ethernet!.etherType = value
        return copy
    }

    /// Ends the frame with a non-IP payload (ARP 0x0806, LLDP 0x88cc, ...) under `etherType`.
    public func ethernetPayload(etherType: UInt16, _ payload: [UInt8]) -> PacketBuilder {
        precondition(network == nil, "ethernetPayload() replaces the network layer; call it instead of ipv4()/ipv6()")
        var copy = self
        copy.network = .other(etherType: etherType, payload: payload)
        return copy
    }

    // MARK: Whole-frame edits

    /// Cuts the frame to its first `length` bytes, leaving every length field as built (a capture snaplen).
    public func truncated(to length: Int) -> PacketBuilder {
        precondition(length >= 0, "cannot truncate to a negative length")
        var copy = self
        copy.truncation = min(length, copy.truncation ?? length)
        return copy
    }

    /// Appends zero bytes up to `length` (60 gives the Ethernet minimum without FCS); IP lengths stay unchanged.
    public func padded(to length: Int) -> PacketBuilder {
        var copy = self
        copy.minimumLength = length
        return copy
    }

    /// Overwrites bytes at `offset` after building, for corruptions no typed override covers.
    public func overwriting(at offset: Int, with bytes: [UInt8]) -> PacketBuilder {
        precondition(offset >= 0, "cannot overwrite at a negative offset")
        var copy = self
        copy.patches.append(Patch(offset: offset, bytes: bytes))
        return copy
    }

    /// The same frame sent the other way: MAC addresses, IP addresses and ports swapped.
    public func reversed() -> PacketBuilder {
        var copy = self
        if var ethernet = copy.ethernet {
            swap(&ethernet.source, &ethernet.destination)
            copy.ethernet = ethernet
        }
        switch copy.network {
        case .ipv4(var fields):
            swap(&fields.source, &fields.destination)
            copy.network = .ipv4(fields)
        case .ipv6(var fields):
            swap(&fields.source, &fields.destination)
            copy.network = .ipv6(fields)
        case .other, nil:
            break
        }
        switch copy.transport {
        case .tcp(var fields):
            swap(&fields.sourcePort, &fields.destinationPort)
            copy.transport = .tcp(fields)
        case .udp(var fields):
            swap(&fields.sourcePort, &fields.destinationPort)
            copy.transport = .udp(fields)
        case .icmpv4, .icmpv6, .opaque, nil:
            break
        }
        return copy
    }

    // MARK: Output

    /// The frame's wire bytes.
    public func bytes() -> [UInt8] {
        build().bytes
    }

    /// Where each layer starts in the frame.
    public var layout: Layout {
        build().layout
    }

    /// Serialises every layer, then applies patches, padding and truncation in that order.
    func build() -> (bytes: [UInt8], layout: Layout) {
        var frame: [UInt8] = []
        if let ethernet {
            frame += ethernet.destination.bytes + ethernet.source.bytes
            for tag in ethernet.tags {
                frame += tag.bytes
            }
            frame += PacketBuilder.wire(ethernet.etherType ?? network?.etherType ?? PacketBuilder.experimentalEtherType)
        }
        let networkOffset = frame.count
        var transportOffset: Int?
        var payloadOffset: Int?
        switch network {
        case .ipv4(let fields):
            let segment = transport?.segment(pseudoHeader: .ipv4(fields.source, fields.destination))
            let header = fields.header(upperLength: segment?.bytes.count ?? 0, upperProtocol: transport?.protocolNumber)
            frame += header
            if let segment {
                transportOffset = frame.count
                payloadOffset = frame.count + segment.headerLength
                frame += segment.bytes
            }
        case .ipv6(let fields):
            let segment = transport?.segment(pseudoHeader: .ipv6(fields.source, fields.destination))
            let header = fields.headers(upperLength: segment?.bytes.count ?? 0, upperProtocol: transport?.protocolNumber)
            frame += header
            if let segment {
                transportOffset = frame.count
                payloadOffset = frame.count + segment.headerLength
                frame += segment.bytes
            }
        case .other(_, let payload):
            frame += payload
        case nil:
            break
        }
        for patch in patches {
            precondition(patch.offset + patch.bytes.count <= frame.count, "overwriting(at: \(patch.offset)) runs past the \(frame.count)-byte frame")
            frame.replaceSubrange(patch.offset..<(patch.offset + patch.bytes.count), with: patch.bytes)
        }
        if let minimumLength, frame.count < minimumLength {
            frame += Array(repeating: 0, count: minimumLength - frame.count)
        }
        if let truncation, frame.count > truncation {
            frame.removeSubrange(truncation...)
        }
        let layout = Layout(networkOffset: networkOffset, transportOffset: transportOffset, payloadOffset: payloadOffset, length: frame.count)
        return (frame, layout)
    }

    /// IEEE local experimental ethertype, used when an Ethernet frame has no network layer at all.
    static let experimentalEtherType: UInt16 = 0x88B5

    /// Sets the transport layer, trapping when there is no IP layer to carry it.
    func withTransport(_ transport: Transport, caller: String) -> PacketBuilder {
        switch network {
        case .ipv4, .ipv6:
            break
        case .other, nil:
            preconditionFailure("\(caller) needs ipv4() or ipv6() first")
        }
        precondition(self.transport == nil, "\(caller): the packet already has a transport layer")
        var copy = self
        copy.transport = transport
        return copy
    }
}

extension PacketBuilder.Network {
    /// The ethertype that announces this layer.
    var etherType: UInt16 {
        switch self {
        case .ipv4: return 0x0800
        case .ipv6: return 0x86DD
        case .other(let etherType, _): return etherType
        }
    }
}
