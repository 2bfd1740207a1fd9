import FlowgenCore
import FlowgenKernel

/// Builds pcapng files in memory (tests and fixtures): sections in either byte order, interfaces
/// with their own link type, snapshot length, timestamp resolution and offset, enhanced, simple and
/// obsolete packet blocks, and arbitrary other blocks (which readers must skip).
public final class PcapngWriter {
    /// The file so far.
    public private(set) var bytes: [UInt8] = []
    private var bigEndian = false
    private var resolutions: [(UInt8, Int64)] = []

    /// Creates a writer and starts the first section.
    public init(bigEndian: Bool = false) {
        section(bigEndian: bigEndian)
    }

    /// Starts a new section (its interfaces start from 0 again).
    public func section(bigEndian: Bool = false) {
        self.bigEndian = bigEndian
        resolutions.removeAll()
        var body: [UInt8] = []
        body += u32(0x1A2B_3C4D) + u16(1) + u16(0) + u32(0xFFFF_FFFF) + u32(0xFFFF_FFFF) // section length -1 (unknown)
        body += option(1, Array("flowgen test".utf8)) + u32(0) // opt_comment, opt_endofopt
        block(0x0A0D_0D0A, body)
    }

    /// Describes an interface; `tsresol` is the `if_tsresol` byte (6: µs, 9: ns, 0x80|n: 2^-n s),
    /// `tsoffset` seconds are added to every timestamp. Returns the interface number.
    @discardableResult
    public func interface(linkType: CaptureLinkType, snapLength: UInt32 = 0, tsresol: UInt8? = nil, tsoffset: Int64? = nil) -> Int {
        var body = u16(UInt16(linkType.rawValue)) + u16(0) + u32(snapLength)
        if let tsresol { body += option(9, [tsresol]) }
        if let tsoffset { body += option(14, u64(UInt64(bitPattern: tsoffset))) }
        body += option(2, Array("if\(resolutions.count)".utf8)) // if_name
        body += u32(0)
        block(1, body)
        resolutions.append((tsresol ?? 6, tsoffset ?? 0))
        return resolutions.count - 1
    }

    /// The timestamp units the interface uses for `timestampNs` (the inverse of the reader's conversion).
    public func units(interface: Int, timestampNs: UInt64) -> UInt64 {
        let (resolution, offset) = resolutions[interface]
        let ns = UInt64(Int64(bitPattern: timestampNs) - offset * 1_000_000_000)
        let exponent = Int(resolution & 0x7F)
        if resolution & 0x80 != 0 {
            let wide = ns.magnitude.multipliedFullWidth(by: UInt64(1) << exponent)
            return UInt64(1_000_000_000).dividingFullWidth((wide.high, wide.low)).quotient
        }
        var value = ns
        if exponent <= 9 {
            for _ in exponent..<9 { value /= 10 }
        } else {
            for _ in 9..<exponent { value *= 10 }
        }
        return value
    }

    /// Appends an enhanced packet block.
    public func enhancedPacket(interface: Int, timestampNs: UInt64, _ data: [UInt8], originalLength: Int? = nil, comment: String? = nil) {
        let t = units(interface: interface, timestampNs: timestampNs)
        var body = u32(UInt32(interface)) + u32(UInt32(t >> 32)) + u32(UInt32(t & 0xFFFF_FFFF))
        body += u32(UInt32(data.count)) + u32(UInt32(originalLength ?? data.count)) + padded(data)
        if let comment { body += option(1, Array(comment.utf8)) + u32(0) }
        block(6, body)
    }

    /// Appends a simple packet block (no timestamp, interface 0; the reader cuts it to the snapshot length).
    public func simplePacket(_ data: [UInt8], originalLength: Int? = nil) {
        block(3, u32(UInt32(originalLength ?? data.count)) + padded(data))
    }

    /// Appends an obsolete packet block (pcapng 1.0 drafts).
    public func obsoletePacket(interface: Int, timestampNs: UInt64, _ data: [UInt8]) {
        let t = units(interface: interface, timestampNs: timestampNs)
        var body = u16(UInt16(interface)) + u16(0) + u32(UInt32(t >> 32)) + u32(UInt32(t & 0xFFFF_FFFF))
        body += u32(UInt32(data.count)) + u32(UInt32(data.count)) + padded(data)
        block(2, body)
    }

    /// Appends a block of any type with `body` (padded to 4 bytes).
    public func block(_ type: UInt32, _ body: [UInt8]) {
        let content = padded(body)
        let length = UInt32(12 + content.count)
        bytes += u32(type) + u32(length) + content + u32(length)
    }

    /// Appends raw bytes as they are (to build damaged files in tests).
    public func appendRaw(_ raw: [UInt8]) { bytes += raw }

    private func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        u16(code) + u16(UInt16(value.count)) + padded(value)
    }

    private func padded(_ data: [UInt8]) -> [UInt8] {
        data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
    }

    private func u16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { Array($0) } }
    private func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { Array($0) } }
    private func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { Array($0) } }
}
