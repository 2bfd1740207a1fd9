/// Classic pcap: a 24-byte file header, then per packet a 16-byte record header (24 in the
/// "modified" format) and the captured bytes.
extension CaptureReader {
    func readPcapHeader(magic: UInt32) throws {
        let header = try input.window(24)
        guard header.count == 24 else {
            throw damaged(0, "the file ends inside the 24-byte pcap header (\(header.count) bytes)")
        }
        pcapSwapped = magic == 0xD4C3_B2A1 || magic == 0x4D3C_B2A1 || magic == 0x34CD_B2A1
        let major: UInt16 = loadInteger(header, 4, swapped: pcapSwapped)
        let minor: UInt16 = loadInteger(header, 6, swapped: pcapSwapped)
        guard major == 2 else { throw damaged(4, "pcap version \(major).\(minor) is not 2.x") }
        let linkField: UInt32 = loadInteger(header, 20, swapped: pcapSwapped)
        // bits 16-31 hold FCS information (libpcap's LT_FCS_*): the link type is the low 16 bits
        pcapLinkType = CaptureLinkType(rawValue: linkField & 0xFFFF)
        pcapScale = magic == 0xA1B2_3C4D || magic == 0x4D3C_B2A1 ? .nanoseconds : .microseconds
        pcapRecordHeader = magic == 0xA1B2_CD34 || magic == 0x34CD_B2A1 ? 24 : 16
        input.consume(24)
        try noteLinkType(pcapLinkType)
    }

    func nextPcapPacket() throws -> CapturePacket? {
        let at = input.offset
        let h = pcapRecordHeader
        let header = try input.window(h)
        if header.count == 0 { return nil }
        guard header.count == h else {
            throw damaged(at, "the file ends inside the header of packet \(packetCount + 1) (\(header.count) of \(h) bytes)")
        }
        let seconds: UInt32 = loadInteger(header, 0, swapped: pcapSwapped)
        let fraction: UInt32 = loadInteger(header, 4, swapped: pcapSwapped)
        let captured = Int(loadInteger(header, 8, swapped: pcapSwapped, as: UInt32.self))
        let original = Int(loadInteger(header, 12, swapped: pcapSwapped, as: UInt32.self))
        guard captured <= Self.maxPacketLength else {
            throw damaged(at, "packet \(packetCount + 1) claims \(captured) captured bytes, more than the \(Self.maxPacketLength) any capture holds")
        }
        let record = try input.window(h + captured)
        guard record.count == h + captured else {
            throw damaged(at, "the file ends inside packet \(packetCount + 1) (\(record.count - h) of \(captured) captured bytes)")
        }
        input.consume(h + captured)
        // a fraction beyond one second is kept as libpcap does: it only shifts the time
        let units = pcapScale == .nanoseconds ? UInt64(seconds) * 1_000_000_000 + UInt64(fraction)
                                              : UInt64(seconds) * 1_000_000 + UInt64(fraction)
        let packet = CapturePacket(timestampNs: pcapScale.nanoseconds(units)!, linkType: pcapLinkType, interface: 0,
                                   originalLength: original, bytes: UnsafeRawBufferPointer(rebasing: record[h...]),
                                   offset: at, index: packetCount)
        packetCount += 1
        return packet
    }
}
