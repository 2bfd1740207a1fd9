import SystemPackage
import FlowgenCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A capture file opened by path, read by `CaptureReader` through its buffer: the file I/O of
/// replay, kept out of FlowgenCore, which only parses the bytes.
public final class CaptureFile: CaptureSource {
    private var fd: Int32

    /// Opens `path` for reading; a missing file, a folder or one this user cannot read is refused
    /// with `CaptureError.unreadable`, naming it.
    public init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError.unreadable(path: path, reason: Errno(rawValue: errno).description) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            systemClose(fd)
            fd = -1
            throw CaptureError.unreadable(path: path, reason: "is a directory")
        }
    }

    deinit { close() }

    /// read(2), again after EINTR; 0 once closed.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while fd >= 0 {
            let n = systemRead(fd, buffer, count)
            if n >= 0 { return n }
            if errno != EINTR { throw Errno(rawValue: errno) }
        }
        return 0
    }

    /// Closes the file (once).
    public func close() {
        if fd >= 0 { systemClose(fd) }
        fd = -1
    }
}

extension CaptureReader {
    /// Opens a capture file and reads its header (pcap) or first section header (pcapng).
    public convenience init(path: String) throws {
        try self.init(source: CaptureFile(path: path), name: path)
    }
}

/// close(2) and read(2), under names that the methods called `close` and `read` do not hide.
private func systemClose(_ fd: Int32) { _ = close(fd) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
