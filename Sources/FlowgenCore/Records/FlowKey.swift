/// The kernel's `struct fg_flow_key` decoded: addresses (IPv4 v4-mapped), ports, protocol, version.
public struct FlowKey: Hashable, Sendable {
    /// Size of the C struct in bytes.
    public static let byteSize = 40
    /// Size of the C struct with the `tunnel` feature's fields (`FG_WITH_TUNNEL`).
    public static let tunnelByteSize = 48
    /// The C struct's size for a plan: a plan with the `tunnel` feature keys flows by tunnel too.
    public static func byteSize(defines: [String]) -> Int {
        defines.contains("FG_WITH_TUNNEL") ? tunnelByteSize : byteSize
    }
    /// Offset of the protocol byte in the C struct.
    public static let protocolOffset = 36

    /// Source address, 16 bytes (IPv4 as ::ffff:a.b.c.d).
    public var src: IPAddress16
    /// Destination address, 16 bytes.
    public var dst: IPAddress16
    /// Source port; ICMP: the echo/timestamp/information identifier.
    public var sport: UInt16
    /// Destination port; ICMP: type << 8 | code.
    public var dport: UInt16
    /// IP protocol number.
    public var proto: UInt8
    /// 4 or 6.
    public var ipVersion: UInt8
    /// Whether the key has the tunnel fields (a `tunnel` plan's 48-byte key), so `bytes` writes them.
    public var hasTunnel: Bool = false
    /// VXLAN/Geneve VNI or GRE key of the tunnel the inner flow came through (`tunnel` feature).
    public var tunnelID: UInt32 = 0
    /// `FG_TUNNEL_*` of `Templates/tunnel.h`: 0 outside any tunnel, 1 VXLAN, 2 Geneve, 3 GRE, 4 IP-in-IP.
    public var tunnelType: UInt8 = 0

    /// Creates a key.
    public init(src: IPAddress16, dst: IPAddress16, sport: UInt16, dport: UInt16, proto: UInt8, ipVersion: UInt8) {
        self.src = src
        self.dst = dst
        self.sport = sport
        self.dport = dport
        self.proto = proto
        self.ipVersion = ipVersion
    }

    /// Decodes the C struct from raw bytes (host byte order for ports, as the kernel wrote them).
    public init(bytes: UnsafeRawBufferPointer) {
        src = IPAddress16(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<16]))
        dst = IPAddress16(bytes: UnsafeRawBufferPointer(rebasing: bytes[16..<32]))
        sport = bytes.loadUnaligned(fromByteOffset: 32, as: UInt16.self)
        dport = bytes.loadUnaligned(fromByteOffset: 34, as: UInt16.self)
        proto = bytes[Self.protocolOffset]
        ipVersion = bytes[37]
        if bytes.count >= Self.tunnelByteSize {
            hasTunnel = true
            tunnelID = bytes.loadUnaligned(fromByteOffset: 40, as: UInt32.self)
            tunnelType = bytes[44]
        }
    }

    /// Encodes the C struct (padding zeroed), e.g. to delete the entry from the kernel map.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: hasTunnel ? Self.tunnelByteSize : Self.byteSize)
        out.withUnsafeMutableBytes { raw in
            src.store(into: raw, at: 0)
            dst.store(into: raw, at: 16)
            raw.storeBytes(of: sport, toByteOffset: 32, as: UInt16.self)
            raw.storeBytes(of: dport, toByteOffset: 34, as: UInt16.self)
            raw[36] = proto
            raw[37] = ipVersion
            if hasTunnel {
                raw.storeBytes(of: tunnelID, toByteOffset: 40, as: UInt32.self)
                raw[44] = tunnelType
            }
        }
        return out
    }

    /// Whether this is an ICMP or ICMPv6 key.
    public var isICMP: Bool { proto == 1 || proto == 58 }

    /// The key of the opposite direction. For ICMP with type/code keys, a request's reverse is its
    /// reply type (echo 8↔0, timestamp 13↔14, information 15↔16, address mask 17↔18; ICMPv6 echo
    /// 128↔129, router solicitation/advertisement 133↔134, neighbour solicitation/advertisement 135↔136).
    public func reversed(icmpKeyed: Bool) -> FlowKey {
        var r = FlowKey(src: dst, dst: src, sport: dport, dport: sport, proto: proto, ipVersion: ipVersion)
        (r.hasTunnel, r.tunnelID, r.tunnelType) = (hasTunnel, tunnelID, tunnelType)
        if isICMP && icmpKeyed {
            r.sport = sport
            let type = UInt8(dport >> 8)
            let code = UInt8(dport & 0xff)
            r.dport = UInt16(Self.icmpPeerType(type, v6: proto == 58) ?? type) << 8 | UInt16(code)
        }
        return r
    }

    /// Whether an ICMP type is the reply half of a request/reply pair.
    public var isICMPReply: Bool {
        isICMP && Self.isICMPReplyType(UInt8(dport >> 8), v6: proto == 58)
    }

    /// Whether an ICMP (or, `v6`, ICMPv6) type is the reply half of a request/reply pair.
    /// A switch, not a table: pairing asks this of every ICMP key.
    @inline(__always)
    static func isICMPReplyType(_ type: UInt8, v6: Bool) -> Bool {
        v6 ? (type == 129 || type == 134 || type == 136) : (type == 0 || type == 14 || type == 16 || type == 18)
    }

    /// The type of the other half of an ICMP request/reply pair, nil for a type that has none.
    static func icmpPeerType(_ type: UInt8, v6: Bool) -> UInt8? {
        switch (v6, type) {
        case (false, 8): return 0
        case (false, 0): return 8
        case (false, 13), (false, 15), (false, 17): return type + 1
        case (false, 14), (false, 16), (false, 18): return type - 1
        case (true, 128), (true, 133), (true, 135): return type + 1
        case (true, 129), (true, 134), (true, 136): return type - 1
        default: return nil
        }
    }
}

extension FlowKey: Comparable {
    /// A fixed order of keys (addresses, then ports, protocol, version, tunnel), for output that must not
    /// depend on the order a table lists its entries in.
    public static func < (a: FlowKey, b: FlowKey) -> Bool {
        let addresses = ((a.src.hi, a.src.lo, a.dst.hi, a.dst.lo), (b.src.hi, b.src.lo, b.dst.hi, b.dst.lo))
        if addresses.0 != addresses.1 { return addresses.0 < addresses.1 }
        if (a.sport, a.dport, a.proto, a.ipVersion) != (b.sport, b.dport, b.proto, b.ipVersion) {
            return (a.sport, a.dport, a.proto, a.ipVersion) < (b.sport, b.dport, b.proto, b.ipVersion)
        }
        return (a.tunnelType, a.tunnelID) < (b.tunnelType, b.tunnelID)
    }
}

/// A 16-byte IP address as the kernel stores it; IPv4 is v4-mapped.
public struct IPAddress16: Hashable, Sendable, CustomStringConvertible {
    /// High 8 bytes (network order, as loaded).
    public var hi: UInt64
    /// Low 8 bytes.
    public var lo: UInt64

    /// Reads 16 bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        hi = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        lo = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    /// Builds from 16 bytes.
    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 16)
        (hi, lo) = bytes.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }

    /// The v4-mapped form of an IPv4 address given as 4 bytes.
    public init(ipv4 b: [UInt8]) {
        self.init([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + b)
    }

    /// The 16 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { store(into: $0, at: 0) }
        return out
    }

    func store(into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        raw.storeBytes(of: hi, toByteOffset: offset, as: UInt64.self)
        raw.storeBytes(of: lo, toByteOffset: offset + 8, as: UInt64.self)
    }

    /// Dotted quad for IPv4-mapped values, RFC 5952 text otherwise.
    public var description: String {
        let b = bytes
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            return "\(b[12]).\(b[13]).\(b[14]).\(b[15])"
        }
        return Self.ipv6Text(b)
    }

    /// RFC 5952 text of 16 bytes (longest zero run compressed, lowercase hex).
    public static func ipv6Text(_ b: [UInt8]) -> String {
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<8 { groups[i] = UInt16(b[2 * i]) << 8 | UInt16(b[2 * i + 1]) }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        var parts: [String] = []
        var k = 0
        var out = ""
        while k < 8 {
            if k == bestStart {
                out += (parts.isEmpty ? "" : parts.joined(separator: ":")) + "::"
                parts = []
                k += bestLen
                continue
            }
            parts.append(String(groups[k], radix: 16))
            k += 1
        }
        if bestStart >= 0 { return out + parts.joined(separator: ":") }
        return parts.joined(separator: ":")
    }
}
