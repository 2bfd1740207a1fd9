#if canImport(Glibc)
import Glibc
import SystemPackage
#elseif canImport(Musl)
import Musl
#endif

/// The bytes of a capture, read ahead in large chunks from a file (or served from memory), so record
/// parsing works on a contiguous window and never issues a system call per packet.
///
/// `window(_:)` guarantees at most the bytes asked for: callers bound every length before asking, and
/// the buffer never grows past `maxWindow`, so no length in a damaged file can make it allocate wildly.
final class CaptureInput {
    /// Largest window a caller may ask for (a pcapng block or a pcap record with its header).
    static let maxWindow = 16 * 1024 * 1024 + 64

    let path: String
    private var fd: Int32
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0          // first unconsumed byte in storage
    private var end = 0            // one past the last valid byte in storage
    private var atEOF = false
    private let fromMemory: Bool
    /// File offset of `storage[start]`: the byte the next window starts at.
    private(set) var offset: UInt64 = 0

    /// Opens `path` for reading.
    init(path: String, chunk: Int = 1 << 20) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError.unreadable(path: path, reason: Errno(rawValue: errno).description) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw CaptureError.unreadable(path: path, reason: "is a directory")
        }
        capacity = chunk
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        fromMemory = false
    }

    /// Serves `bytes` as if they were a file called `name`.
    init(bytes: [UInt8], name: String) {
        path = name
        fd = -1
        capacity = max(bytes.count, 1)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { memory.copyMemory(from: base, byteCount: bytes.count) } }
        storage = memory
        end = bytes.count
        atEOF = true
        fromMemory = true
    }

    deinit {
        if fd >= 0 { close(fd) }
        storage.deallocate()
    }

    /// Closes the file early (reads then behave as at end of file).
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
        atEOF = true
    }

    /// Bytes available without reading more.
    var buffered: Int { end - start }

    /// Up to `count` bytes starting at the current offset, reading more from the file as needed.
    /// Fewer bytes (possibly none) mean the file ends first. `count` must be at most `maxWindow`.
    func window(_ count: Int) throws -> UnsafeRawBufferPointer {
        precondition(count >= 0 && count <= Self.maxWindow, "capture window of \(count) bytes is beyond the bound")
        if end - start < count && !atEOF { try fill(count) }
        return UnsafeRawBufferPointer(start: storage + start, count: min(count, end - start))
    }

    /// Marks `count` bytes (at most what the last window returned) as read.
    func consume(_ count: Int) {
        precondition(count <= end - start, "consuming more than was read")
        start += count
        offset += UInt64(count)
    }

    /// Reads until `count` bytes are buffered or the file ends.
    private func fill(_ count: Int) throws {
        if start > 0 && (capacity - start < count || start >= capacity / 2) {
            let live = end - start
            if live > 0 { memmove(storage, storage + start, live) }
            start = 0
            end = live
        }
        if count > capacity - start {
            var grown = capacity
            while grown < count { grown *= 2 }
            grown = min(grown, Self.maxWindow)
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            if end > start { fresh.copyMemory(from: storage + start, byteCount: end - start) }
            storage.deallocate()
            storage = fresh
            capacity = grown
            end -= start
            start = 0
        }
        while end - start < count && !atEOF {
            let n = read(fd, storage + end, capacity - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw CaptureError.unreadable(path: path, reason: "\(Errno(rawValue: errno).description) at byte \(offset + UInt64(end - start))")
            }
            if n == 0 { atEOF = true } else { end += n }
        }
    }
}
