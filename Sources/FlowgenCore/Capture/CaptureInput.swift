#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a capture's bytes come from when they are not in memory: FlowgenKernel's `CaptureFile`
/// (a file opened by path). Core parses; the code that opens and reads files lives with the other I/O.
public protocol CaptureSource: AnyObject {
    /// Reads up to `count` bytes into `buffer`; returns how many, 0 at the end. Throws the reason, worded
    /// for a user, when the read fails (the reader adds the path and the byte offset).
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int
    /// Releases the source early; reads after it are not made.
    func close()
}

/// The bytes of a capture, read ahead in large chunks from a `CaptureSource` (or served from memory), so
/// record parsing works on a contiguous window and never issues a system call per packet.
///
/// `window(_:)` guarantees at most the bytes asked for: callers bound every length before asking, and
/// the buffer never grows past `maxWindow`, so no length in a damaged file can make it allocate wildly.
final class CaptureInput {
    /// Largest window a caller may ask for (a pcapng block or a pcap record with its header).
    static let maxWindow = 16 * 1024 * 1024 + 64

    let path: String
    private var source: CaptureSource?
    // read and written for every packet, by the one thread that reads the capture and never by two
    // overlapping accesses: without the run-time exclusivity checks (a few % of a replay's time)
    @exclusivity(unchecked) private var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var start = 0          // first unconsumed byte in storage
    @exclusivity(unchecked) private var end = 0            // one past the last valid byte in storage
    @exclusivity(unchecked) private var atEOF = false
    /// File offset of `storage[start]`: the byte the next window starts at.
    @exclusivity(unchecked) private(set) var offset: UInt64 = 0

    /// Reads `source`, called `name` in errors.
    init(source: CaptureSource, name: String, chunk: Int = 1 << 20) {
        path = name
        self.source = source
        capacity = chunk
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    /// Serves `bytes` as if they were a file called `name`.
    init(bytes: [UInt8], name: String) {
        path = name
        capacity = max(bytes.count, 1)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { memory.copyMemory(from: base, byteCount: bytes.count) } }
        storage = memory
        end = bytes.count
        atEOF = true
    }

    deinit {
        source?.close()
        storage.deallocate()
    }

    /// Closes the source early (reads then behave as at end of file).
    func release() {
        source?.close()
        source = nil
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
            guard let source else { atEOF = true; break }
            let n: Int
            do {
                n = try source.read(into: storage + end, count: capacity - end)
            } catch {
                throw CaptureError.unreadable(path: path, reason: "\(error) at byte \(offset + UInt64(end - start))")
            }
            if n == 0 { atEOF = true } else { end += n }
        }
    }
}
