/// Point-to-point, ATM, ARCNET and InfiniBand framings: each header names the network protocol
/// with a PPP protocol number, an ethertype, an NLPID or an LLC/SNAP header.
extension EthernetFraming {
    static func serial(_ b: UnsafeRawBufferPointer, linkType: CaptureLinkType) -> EthernetFraming {
        switch linkType.rawValue {
        case 8: return slip(b)
        case 9: return ppp(b)
        case 50:
            // RFC 1662 framing starts with 0xff; Cisco PPP-over-HDLC with a Cisco HDLC address
            if let first = b.first, first == 0x0F || first == 0x8F { return ciscoHDLC(b) }
            return ppp(b)
        case 100, 106: return llcSNAP(b, at: 0)
        case 104: return ciscoHDLC(b)
        case 107: return frameRelay(b)
        case 129: return arcnet(b)
        case 242:
            // IPoIB: a 2-byte ethertype and 2 reserved bytes
            guard b.count >= 4 else { return .truncated }
            return ethertype(bigEndian16(b, 0), at: 4)
        default: return .notIP
        }
    }

    /// A frame carrying `value` as its ethertype from `offset` on (values below 0x0600 are no ethertype).
    static func ethertype(_ value: UInt16, at offset: Int) -> EthernetFraming {
        value >= 0x0600 ? .prepend(etherType: value, payloadOffset: offset) : .notIP
    }

    /// libpcap's SLIP pseudo-header: direction, then the 15-byte (compressed) header the link sent;
    /// the uncompressed IP packet follows at byte 16.
    static func slip(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        guard b.count > 16 else { return .truncated }
        switch b[16] >> 4 {
        case 4: return .prepend(etherType: 0x0800, payloadOffset: 16)
        case 6: return .prepend(etherType: 0x86DD, payloadOffset: 16)
        default: return .notIP
        }
    }

    /// PPP (RFC 1661), optionally after the 0xff 0x03 of HDLC-like framing, with a 1- or 2-byte protocol.
    static func ppp(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        var o = 0
        if b.count >= 2 && b[0] == 0xFF && b[1] == 0x03 { o = 2 }
        guard b.count > o else { return .truncated }
        let proto: UInt16
        if b[o] & 0x01 == 1 { // protocol field compression: one odd byte
            proto = UInt16(b[o])
            o += 1
        } else {
            guard b.count >= o + 2 else { return .truncated }
            proto = bigEndian16(b, o)
            o += 2
        }
        switch proto {
        case 0x0021: return .prepend(etherType: 0x0800, payloadOffset: o)
        case 0x0057: return .prepend(etherType: 0x86DD, payloadOffset: o)
        default: return .notIP
        }
    }

    /// Cisco HDLC: address, control, then an ethertype.
    static func ciscoHDLC(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        guard b.count >= 4 else { return .truncated }
        return ethertype(bigEndian16(b, 2), at: 4)
    }

    /// An RFC 1483/2684 LLC/SNAP header (AA AA 03, OUI 0 or 0x0000F8, ethertype) at `offset`.
    static func llcSNAP(_ b: UnsafeRawBufferPointer, at o: Int) -> EthernetFraming {
        guard b.count >= o + 8 else { return .truncated }
        guard b[o] == 0xAA && b[o + 1] == 0xAA && b[o + 2] == 0x03 && b[o + 3] == 0 && b[o + 4] == 0
              && (b[o + 5] == 0 || b[o + 5] == 0xF8) else { return .notIP }
        return ethertype(bigEndian16(b, o + 6), at: o + 8)
    }

    /// Frame Relay: a Q.922 address (2 to 4 bytes, the last with the EA bit), then RFC 2427
    /// (UI control, optional pad, NLPID: 0xcc IPv4, 0x8e IPv6, 0x80 SNAP) or Cisco's ethertype.
    static func frameRelay(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        var o = 0
        while true {
            guard o < b.count else { return .truncated }
            let byte = b[o]
            o += 1
            if byte & 0x01 == 1 { break }
            if o == 4 { return .notIP } // no address is longer than 4 bytes
        }
        guard o >= 2, b.count > o else { return o >= 2 ? .truncated : .notIP }
        guard b[o] == 0x03 else {
            guard b.count >= o + 2 else { return .truncated }
            return ethertype(bigEndian16(b, o), at: o + 2) // Cisco encapsulation
        }
        o += 1
        if o < b.count && b[o] == 0x00 { o += 1 } // pad before the NLPID
        guard o < b.count else { return .truncated }
        switch b[o] {
        case 0xCC: return .prepend(etherType: 0x0800, payloadOffset: o + 1)
        case 0x8E: return .prepend(etherType: 0x86DD, payloadOffset: o + 1)
        case 0x80:
            guard b.count >= o + 6 else { return .truncated }
            guard b[o + 1] == 0 && b[o + 2] == 0 && b[o + 3] == 0 else { return .notIP }
            return ethertype(bigEndian16(b, o + 4), at: o + 6)
        default: return .notIP
        }
    }

    /// ARCNET as Linux captures it: source, destination, 2-byte offset, protocol id, then for the
    /// RFC 1201 ids a split flag and sequence number (8 bytes in all) or, for the RFC 1051 ids, nothing.
    static func arcnet(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        guard b.count >= 5 else { return .truncated }
        let id = b[4]
        let header = id == 240 || id == 241 || id == 0x80 ? 5 : 8
        guard b.count >= header else { return .truncated }
        switch id {
        case 212, 240: return .prepend(etherType: 0x0800, payloadOffset: header) // IP, RFC 1201 / RFC 1051
        case 196: return .prepend(etherType: 0x86DD, payloadOffset: header)      // IPv6 (RFC 2497)
        default: return .notIP
        }
    }
}
