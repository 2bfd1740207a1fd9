/// IEEE 802.11 data frames (with or without a radiotap header): an LLC/SNAP header after the MAC
/// header names the ethertype. Management, control, null-data, encrypted and A-MSDU frames carry
/// no IP packet replay can read.
extension EthernetFraming {
    /// A radiotap header (its length and, for the data padding flag, the TSFT and Flags fields), then 802.11.
    static func radiotap(_ b: UnsafeRawBufferPointer) -> EthernetFraming {
        guard b.count >= 8 else { return .truncated }
        let length = Int(littleEndian16(b, 2))
        guard b[0] == 0, length >= 8 else { return .notIP }
        guard length <= b.count else { return .truncated }
        let present = littleEndian32(b, 4)
        var o = 4
        var word = present
        while word & 0x8000_0000 != 0 { // extended presence bitmaps
            o += 4
            guard o + 4 <= length else { return .notIP }
            word = littleEndian32(b, o)
        }
        var field = o + 4
        var flags: UInt8 = 0
        if present & 0x1 != 0 { field = (field + 7) & ~7; field += 8 } // TSFT: 8 bytes, 8-aligned
        if present & 0x2 != 0 {
            guard field < length else { return .notIP }
            flags = b[field]
        }
        return ieee80211(b, at: length, dataPad: flags & 0x20 != 0)
    }

    /// An 802.11 frame at `o`; `dataPad`: the payload starts at a 4-byte boundary (radiotap flag 0x20).
    static func ieee80211(_ b: UnsafeRawBufferPointer, at o: Int, dataPad: Bool) -> EthernetFraming {
        guard b.count >= o + 2 else { return .truncated }
        let fc0 = b[o], fc1 = b[o + 1]
        let type = (fc0 >> 2) & 0x3, subtype = fc0 >> 4
        guard type == 2, subtype & 0x4 == 0, fc1 & 0x40 == 0 else { return .notIP } // data with payload, not protected
        var header = 24
        if fc1 & 0x03 == 0x03 { header += 6 } // four addresses (WDS)
        if subtype & 0x8 != 0 { // QoS data
            guard b.count >= o + header + 2 else { return .truncated }
            if b[o + header] & 0x80 != 0 { return .notIP } // A-MSDU: several packets in one frame
            header += 2
            if fc1 & 0x80 != 0 { header += 4 } // HT control
        }
        if dataPad { header = (header + 3) & ~3 }
        guard b.count >= o + header else { return .truncated }
        return llcSNAP(b, at: o + header)
    }

    @inline(__always)
    static func littleEndian16(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(b[offset]) | UInt16(b[offset + 1]) << 8
    }

    @inline(__always)
    static func littleEndian32(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian16(b, offset)) | UInt32(littleEndian16(b, offset + 2)) << 16
    }
}
