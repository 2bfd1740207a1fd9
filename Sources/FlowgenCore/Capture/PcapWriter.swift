#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes classic pcap files (`flowgen test` vectors, tests, fixtures, benchmark captures): µs or ns timestamps, either
/// byte order. Records are buffered and written in large chunks, so million-packet files are quick.
public final class PcapWriter {
    /// The file's link type.
    public let linkType: CaptureLinkType
    /// Whether timestamps are written in ns (magic 0xa1b23c4d) instead of µs.
    public let nanosecond: Bool
    /// Whether integers are written big-endian (the reader must swap them on this host).
    public let bigEndian: Bool
    /// Packets written so far.
    public private(set) var packetCount = 0

    private var buffer: [UInt8] = []
    private var fd: Int32 = -1
    private let path: String?

    /// A writer that keeps the file in memory (`bytes`).
    public init(linkType: CaptureLinkType = .ethernet, nanosecond: Bool = false, bigEndian: Bool = false, snapLength: UInt32 = 262_144) {
        self.linkType = linkType
        self.nanosecond = nanosecond
        self.bigEndian = bigEndian
        self.path = nil
        writeHeader(snapLength: snapLength)
    }

    /// A writer that streams to `path` (created or truncated, mode 0644); call `close()` at the end.
    public init(path: String, linkType: CaptureLinkType = .ethernet, nanosecond: Bool = false, bigEndian: Bool = false,
                snapLength: UInt32 = 262_144) throws {
        self.linkType = linkType
        self.nanosecond = nanosecond
        self.bigEndian = bigEndian
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CaptureError.unreadable(path: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        writeHeader(snapLength: snapLength)
    }

    deinit {
        if fd >= 0 { try? close() }
    }

    /// The file so far (in-memory writers; a streaming writer holds only what it has not flushed).
    public var bytes: [UInt8] { buffer }

    /// Appends one packet captured at `timestampNs` (ns since the epoch); `originalLength` defaults to the captured length.
    public func append(_ frame: [UInt8], timestampNs: UInt64, originalLength: Int? = nil) throws {
        try frame.withUnsafeBytes { try append($0, timestampNs: timestampNs, originalLength: originalLength) }
    }

    /// Appends one packet from raw bytes.
    public func append(_ frame: UnsafeRawBufferPointer, timestampNs: UInt64, originalLength: Int? = nil) throws {
        let seconds = timestampNs / 1_000_000_000
        let fraction = nanosecond ? timestampNs % 1_000_000_000 : timestampNs % 1_000_000_000 / 1_000
        put32(UInt32(truncatingIfNeeded: seconds))
        put32(UInt32(fraction))
        put32(UInt32(frame.count))
        put32(UInt32(originalLength ?? frame.count))
        buffer.append(contentsOf: frame)
        packetCount += 1
        if fd >= 0 && buffer.count >= 1 << 20 { try flush() }
    }

    /// Appends raw bytes as they are (to build damaged files in tests).
    public func appendRaw(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// Writes buffered records to the file.
    public func flush() throws {
        guard fd >= 0, !buffer.isEmpty else { return }
        var done = 0
        try buffer.withUnsafeBytes { raw in
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CaptureError.unreadable(path: path ?? "", reason: "write failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes a streaming writer.
    public func close() throws {
        defer {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
        try flush()
    }

    /// Writes the in-memory file to `path`.
    public func write(toFile path: String) throws {
        let out = try PcapWriter(path: path, linkType: linkType, nanosecond: nanosecond, bigEndian: bigEndian)
        out.buffer = buffer
        try out.close()
    }

    private func writeHeader(snapLength: UInt32) {
        put32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        put16(2)
        put16(4)
        put32(0)
        put32(0)
        put32(snapLength)
        put32(linkType.rawValue)
    }

    private func put16(_ v: UInt16) {
        let w = bigEndian ? v.bigEndian : v.littleEndian
        withUnsafeBytes(of: w) { buffer.append(contentsOf: $0) }
    }

    private func put32(_ v: UInt32) {
        let w = bigEndian ? v.bigEndian : v.littleEndian
        withUnsafeBytes(of: w) { buffer.append(contentsOf: $0) }
    }
}
