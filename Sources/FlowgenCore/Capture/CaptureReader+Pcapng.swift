/// pcapng: a sequence of blocks (type, total length, body, total length again), grouped in sections
/// that each start with a Section Header Block carrying the section's byte order.
extension CaptureReader {
    enum BlockType {
        static let sectionHeader: UInt32 = 0x0A0D_0D0A
        static let interfaceDescription: UInt32 = 1
        static let obsoletePacket: UInt32 = 2
        static let simplePacket: UInt32 = 3
        static let enhancedPacket: UInt32 = 6
    }

    /// Reads a Section Header Block at the current offset: byte order, version, and a fresh interface list.
    func readSectionHeader() throws {
        let at = input.offset
        let head = try input.window(12)
        guard head.count == 12 else {
            throw damaged(at, "the file ends inside a section header (\(head.count) of at least 28 bytes)")
        }
        let byteOrder = head.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        switch byteOrder {
        case 0x1A2B_3C4D: sectionSwapped = false
        case 0x4D3C_2B1A: sectionSwapped = true
        default: throw damaged(at + 8, "section header byte-order magic 0x\(String(UInt32(bigEndian: byteOrder), radix: 16)) is neither order of 0x1a2b3c4d")
        }
        let block = try readBlock(at: at, minimumBody: 16, kind: "section header")
        let major: UInt16 = loadInteger(block, 12, swapped: sectionSwapped)
        let minor: UInt16 = loadInteger(block, 14, swapped: sectionSwapped)
        guard major == 1 else { throw damaged(at + 12, "pcapng version \(major).\(minor) is not 1.x") }
        interfaces.removeAll()
        input.consume(block.count)
    }

    /// The whole block at the current offset after checking its lengths; not consumed yet.
    /// `minimumBody` is the fixed part the block type needs after type and length.
    func readBlock(at: UInt64, minimumBody: Int, kind: String) throws -> UnsafeRawBufferPointer {
        let head = try input.window(8)
        guard head.count == 8 else { throw damaged(at, "the file ends inside the header of the \(kind) block (\(head.count) of 8 bytes)") }
        let length = Int(loadInteger(head, 4, swapped: sectionSwapped, as: UInt32.self))
        guard length % 4 == 0, length >= 12 + minimumBody else {
            throw damaged(at + 4, "\(kind) block length \(length) is \(length % 4 != 0 ? "not a multiple of 4" : "shorter than the \(12 + minimumBody) bytes such a block needs")")
        }
        guard length <= Self.maxBlockLength else {
            throw damaged(at + 4, "\(kind) block length \(length) exceeds the \(Self.maxBlockLength)-byte limit")
        }
        let block = try input.window(length)
        guard block.count == length else {
            throw damaged(at, "the file ends inside the \(kind) block (\(block.count) of \(length) bytes)")
        }
        let trailer: UInt32 = loadInteger(block, length - 4, swapped: sectionSwapped)
        guard Int(trailer) == length else {
            throw damaged(at + UInt64(length - 4), "\(kind) block ends with length \(trailer), but starts with \(length)")
        }
        return block
    }

    func nextPcapngPacket() throws -> CapturePacket? {
        while true {
            let at = input.offset
            let head = try input.window(8)
            if head.count == 0 { return nil }
            guard head.count == 8 else { throw damaged(at, "the file ends inside a block header (\(head.count) of 8 bytes)") }
            let type = head.loadUnaligned(as: UInt32.self)
            if type == BlockType.sectionHeader {
                try readSectionHeader()
                continue
            }
            let blockType: UInt32 = loadInteger(head, 0, swapped: sectionSwapped)
            switch blockType {
            case BlockType.enhancedPacket, BlockType.obsoletePacket:
                // The obsolete Packet Block has the same layout except a 16-bit interface id (then a
                // 16-bit drop count) where the Enhanced Packet Block has a 32-bit one.
                let enhanced = blockType == BlockType.enhancedPacket
                let kind = enhanced ? "enhanced packet" : "packet"
                let block = try readBlock(at: at, minimumBody: 20, kind: kind)
                let interface = enhanced ? Int(loadInteger(block, 8, swapped: sectionSwapped, as: UInt32.self))
                                         : Int(loadInteger(block, 8, swapped: sectionSwapped, as: UInt16.self))
                let high: UInt32 = loadInteger(block, 12, swapped: sectionSwapped)
                let low: UInt32 = loadInteger(block, 16, swapped: sectionSwapped)
                let captured = Int(loadInteger(block, 20, swapped: sectionSwapped, as: UInt32.self))
                let original = Int(loadInteger(block, 24, swapped: sectionSwapped, as: UInt32.self))
                guard captured <= block.count - 32 else {
                    throw damaged(at + 20, "\(kind) block claims \(captured) captured bytes but holds \(block.count - 32)")
                }
                return try packet(block: block, at: at, interface: interface, units: UInt64(high) << 32 | UInt64(low),
                                  dataOffset: 28, captured: captured, original: original)
            case BlockType.simplePacket:
                let block = try readBlock(at: at, minimumBody: 4, kind: "simple packet")
                guard let first = interfaces.first else {
                    throw damaged(at, "simple packet block before any interface description block")
                }
                let original = Int(loadInteger(block, 8, swapped: sectionSwapped, as: UInt32.self))
                var captured = min(original, block.count - 16)
                if first.snapLength > 0 { captured = min(captured, first.snapLength) }
                // a simple packet carries no timestamp: it happened at the capture's current time
                return try packet(block: block, at: at, interface: 0, units: nil, dataOffset: 12, captured: captured, original: original)
            case BlockType.interfaceDescription:
                let block = try readBlock(at: at, minimumBody: 8, kind: "interface description")
                try readInterface(block, at: at)
                input.consume(block.count)
            default:
                // name resolution, statistics, decryption secrets, custom blocks, ...: not needed for flows
                let block = try readBlock(at: at, minimumBody: 0, kind: "pcapng")
                input.consume(block.count)
            }
        }
    }

    private func packet(block: UnsafeRawBufferPointer, at: UInt64, interface: Int, units: UInt64?,
                        dataOffset: Int, captured: Int, original: Int) throws -> CapturePacket {
        guard interface < interfaces.count else {
            throw damaged(at + 8, "packet refers to interface \(interface), but its section describes \(interfaces.count)")
        }
        let description = interfaces[interface]
        var timestamp = lastTimestampNs
        if let units {
            guard let ns = description.scale.nanoseconds(units) else {
                throw damaged(at + 12, "packet timestamp is before 1970 or beyond 2554")
            }
            timestamp = ns
        }
        guard captured <= Self.maxPacketLength else {
            throw damaged(at, "packet claims \(captured) captured bytes, more than the \(Self.maxPacketLength) any capture holds")
        }
        input.consume(block.count)
        lastTimestampNs = timestamp
        let result = CapturePacket(timestampNs: timestamp, linkType: description.linkType, interface: interface,
                                   originalLength: original,
                                   bytes: UnsafeRawBufferPointer(rebasing: block[dataOffset..<(dataOffset + captured)]),
                                   offset: at, index: packetCount)
        packetCount += 1
        return result
    }

    /// Reads an Interface Description Block: link type, snapshot length, `if_tsresol`, `if_tsoffset`.
    private func readInterface(_ block: UnsafeRawBufferPointer, at: UInt64) throws {
        let linkType = CaptureLinkType(rawValue: UInt32(loadInteger(block, 8, swapped: sectionSwapped, as: UInt16.self)))
        let snap = Int(loadInteger(block, 12, swapped: sectionSwapped, as: UInt32.self))
        var resolution: UInt8 = 6
        var offsetSeconds: Int64 = 0
        var o = 16
        let end = block.count - 4
        while o + 4 <= end {
            let code: UInt16 = loadInteger(block, o, swapped: sectionSwapped)
            let length = Int(loadInteger(block, o + 2, swapped: sectionSwapped, as: UInt16.self))
            if code == 0 { break } // opt_endofopt
            guard o + 4 + length <= end else {
                throw damaged(at + UInt64(o), "interface option \(code) of \(length) bytes runs past the end of its block")
            }
            if code == 9 && length >= 1 { resolution = block[o + 4] }
            if code == 14 && length >= 8 { offsetSeconds = loadInteger(block, o + 4, swapped: sectionSwapped) }
            o += 4 + (length + 3) / 4 * 4
        }
        guard let scale = CaptureTimestampScale(tsresol: resolution) else {
            throw damaged(at, "interface \(interfaces.count) has timestamp resolution 10^-\(resolution), finer than a 64-bit count can hold")
        }
        try noteLinkType(linkType)
        interfaces.append(PcapngInterface(linkType: linkType, snapLength: snap, scale: scale.offset(by: offsetSeconds)))
    }
}
