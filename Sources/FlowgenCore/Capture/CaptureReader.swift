/// Reads packets from a pcap or pcapng file, in file order, without libpcap.
///
/// Formats: pcap with µs or ns timestamps in either byte order (and the "modified" variant with
/// 24-byte record headers); pcapng with any number of sections (each with its own byte order) and
/// interfaces (each with its own link type, timestamp resolution and offset), enhanced, simple and
/// obsolete packet blocks; other blocks are skipped. Every length read from the file is checked
/// against the block or record that holds it and against fixed maxima before anything is read or
/// allocated, so a damaged file ends with `CaptureError.damaged` (reason and byte offset), never a
/// crash, a hang or a huge allocation. Packets before the damage have been returned by then.
public final class CaptureReader {
    /// The container format.
    public enum Format: Sendable, Equatable, CustomStringConvertible {
        /// Classic pcap; `nanosecond` for the ns magic, `swapped` when the writer's byte order differs from ours.
        case pcap(nanosecond: Bool, swapped: Bool)
        /// pcapng.
        case pcapng

        /// "pcap" or "pcapng".
        public var description: String {
            switch self {
            case .pcap(let ns, _): return ns ? "pcap (ns)" : "pcap"
            case .pcapng: return "pcapng"
            }
        }
    }

    /// Largest captured length accepted for one packet (libpcap's limit for the link types replay reads).
    public static let maxPacketLength = 262_144
    /// Largest pcapng block accepted (libpcap's limit).
    public static let maxBlockLength = 16 * 1024 * 1024

    /// The file's path (or the name given to an in-memory capture).
    public var path: String { input.path }
    /// The container format.
    public let format: Format
    /// Link types of the packets returned so far or announced (pcap header, pcapng interfaces).
    public private(set) var linkTypes: [CaptureLinkType] = []
    /// Packets returned so far.
    @exclusivity(unchecked) public internal(set) var packetCount = 0

    let input: CaptureInput
    // pcap state, read for every packet by the one thread that reads the file (never in overlapping
    // accesses): without the run-time exclusivity checks, which cost a few % of a replay's time
    @exclusivity(unchecked) var pcapLinkType = CaptureLinkType.ethernet
    @exclusivity(unchecked) var pcapScale = CaptureTimestampScale.microseconds
    @exclusivity(unchecked) var pcapSwapped = false
    @exclusivity(unchecked) var pcapRecordHeader = 16
    // pcapng state
    var sectionSwapped = false
    var interfaces: [PcapngInterface] = []
    var lastTimestampNs: UInt64 = 0

    /// Reads a capture from `source` (a file: FlowgenKernel's `CaptureReader(path:)`); `name` stands
    /// for it in errors. Reads the header (pcap) or first section header (pcapng).
    public convenience init(source: CaptureSource, name: String) throws {
        try self.init(input: CaptureInput(source: source, name: name))
    }

    /// Reads a capture held in memory; `name` stands for the path in errors.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        try self.init(input: CaptureInput(bytes: bytes, name: name))
    }

    init(input: CaptureInput) throws {
        self.input = input
        let head = try input.window(4)
        guard head.count == 4 else {
            throw CaptureError.damaged(path: input.path, offset: 0,
                                       reason: "the file is \(head.count) bytes long, too short for a pcap or pcapng header")
        }
        let magic = head.loadUnaligned(as: UInt32.self)
        switch magic {
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1, 0xA1B2_CD34, 0x34CD_B2A1:
            format = .pcap(nanosecond: magic == 0xA1B2_3C4D || magic == 0x4D3C_B2A1,
                           swapped: magic == 0xD4C3_B2A1 || magic == 0x4D3C_B2A1 || magic == 0x34CD_B2A1)
            try readPcapHeader(magic: magic)
        case 0x0A0D_0D0A:
            format = .pcapng
            try readSectionHeader()
        default:
            throw CaptureError.notACapture(path: input.path, magic: UInt32(bigEndian: magic))
        }
    }

    /// The next packet, or nil at the end of the file. The packet's bytes stay valid until the next call.
    public func next() throws -> CapturePacket? {
        switch format {
        case .pcap: return try nextPcapPacket()
        case .pcapng: return try nextPcapngPacket()
        }
    }

    /// Offset of the next unread byte.
    public var offset: UInt64 { input.offset }

    /// Closes the file now (also done when the reader is released).
    public func close() { input.release() }

    /// Every packet not yet read, copied out (tests and small files).
    func readAll() throws -> [(timestampNs: UInt64, linkType: CaptureLinkType, bytes: [UInt8])] {
        var out: [(UInt64, CaptureLinkType, [UInt8])] = []
        while let p = try next() { out.append((p.timestampNs, p.linkType, Array(p.bytes))) }
        return out
    }

    func damaged(_ offset: UInt64, _ reason: String) -> CaptureError {
        .damaged(path: input.path, offset: offset, reason: reason)
    }

    func noteLinkType(_ type: CaptureLinkType) throws {
        guard type.isSupported else { throw CaptureError.unsupportedLinkType(path: input.path, linkType: type) }
        if !linkTypes.contains(type) { linkTypes.append(type) }
    }
}

/// Reads an unsigned integer from `bytes` at `offset`, in the file's byte order.
@inline(__always)
func loadInteger<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, swapped: Bool, as type: T.Type = T.self) -> T {
    let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    return swapped ? v.byteSwapped : v
}
