import Foundation
import SystemPackage
import FlowgenCore

/// Writes formatted flows to standard output or to dated files in a directory.
public final class TextFlowExporter: FlowExporter {
    /// Where the text goes.
    public enum Destination: Sendable {
        /// Standard output.
        case standardOutput
        /// `DIR/flows-YYYY-MM-DD.<ext>`, a new file each UTC day (as the reference dumped by date).
        case directory(String)
    }

    let formatter: FlowFormatter
    let destination: Destination
    let epochOffsetNs: () -> Int64
    let writer: FlowTextWriter
    var handle: FileHandle?
    var currentPath: String?
    var wroteStdoutHeader = false
    /// The current file is new: its header goes out with the next batch, in the same write.
    var fileNeedsHeader = false

    /// Creates an exporter. `epochOffsetNs` converts record time to Unix time at export.
    public init(formatter: FlowFormatter, destination: Destination, epochOffsetNs: @escaping () -> Int64) throws {
        self.formatter = formatter
        self.destination = destination
        self.epochOffsetNs = epochOffsetNs
        writer = FlowTextWriter(formatter: formatter)
        if case let .directory(dir) = destination { try Self.checkWritable(dir) }
    }

    /// Fails early, with a message that says what to do, when `dir` cannot take output files.
    public static func checkWritable(_ dir: String) throws {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw ExportError.outputDirectory(dir, "cannot be created (\(error.localizedDescription))")
            }
        } else if !isDir.boolValue {
            throw ExportError.outputDirectory(dir, "is not a directory")
        }
        guard access(dir, W_OK | X_OK) == 0 else { throw ExportError.outputDirectory(dir, "is not writable") }
    }

    /// Formats and writes a batch (one write(2) for a usual batch, see `FlowTextWriter`).
    public func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return }
        try write { try writer.write(flows, epochOffsetNs: $0, prefix: $1, to: $2) }
    }

    /// Formats and writes a batch from its flat storage (one write(2) for a usual batch).
    public func export(_ batch: BiflowBatch) throws {
        guard !batch.isEmpty else { return }
        try write { try writer.write(batch, epochOffsetNs: $0, prefix: $1, to: $2) }
    }

    /// Calls `body` with the epoch offset, the header still due and the descriptor to write to.
    private func write(_ body: (Int64, String, Int32) throws -> Void) throws {
        let offset = epochOffsetNs()
        switch destination {
        case .standardOutput:
            let header = wroteStdoutHeader ? "" : formatter.header()
            wroteStdoutHeader = true
            try body(offset, header, FileHandle.standardOutput.fileDescriptor)
        case let .directory(dir):
            let h = try fileHandle(dir: dir)
            // a batch goes in whole or not at all: a failed write (a full disk) is cut back to the
            // end of the last whole record, so the file never holds half a line and the collector can
            // write the batch again later without a flow appearing twice
            let end = lseek(h.fileDescriptor, 0, SEEK_END)
            do {
                try body(offset, fileNeedsHeader ? formatter.header() : "", h.fileDescriptor)
            } catch {
                if end >= 0 { _ = ftruncate(h.fileDescriptor, end) }
                var reason = "\(error)"
                if case let ExportError.write(why) = error { reason = why }
                throw ExportError.fileWrite(path: currentPath ?? dir, reason: reason)
            }
            fileNeedsHeader = false
        }
    }

    func fileHandle(dir: String) throws -> FileHandle {
        let day = Self.utcDay(Date())
        let path = (dir as NSString).appendingPathComponent("flows-\(day).\(formatter.format.fileExtension)")
        if path == currentPath, let h = handle { return h }
        try handle?.close()
        // output may reveal who talks to whom: not world-readable; and never through a planted symlink
        let opened: (fd: Int32, isEmpty: Bool)
        do {
            opened = try OutputFile.openForAppend(path)
        } catch {
            throw ExportError.outputDirectory(dir, "refused: \(error)")
        }
        let h = FileHandle(fileDescriptor: opened.fd, closeOnDealloc: true)
        fileNeedsHeader = opened.isEmpty
        handle = h
        currentPath = path
        return h
    }

    static func utcDay(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday))
    }

    /// Closes the current file.
    public func close() throws {
        try handle?.close()
        handle = nil
    }
}

/// Formats batches of flows into one reused byte buffer and writes it to a file descriptor: one
/// write(2) for a usual batch, and for a huge one (a flush of the whole table) a write every
/// `flushThreshold` bytes, so memory stays bounded whatever the batch size.
public final class FlowTextWriter {
    /// The formatter.
    public let formatter: FlowFormatter
    /// Bytes gathered before they are written, when a batch is larger.
    public static let flushThreshold = 4 << 20
    /// Flows formatted between checks of the threshold.
    static let chunk = 1024

    var buffer: [UInt8] = []

    /// Creates a writer.
    public init(formatter: FlowFormatter) { self.formatter = formatter }

    /// Formats `flows` and writes them to `fd` after `prefix` (a header, or ""); returns the bytes written.
    @discardableResult
    public func write(_ flows: [Biflow], epochOffsetNs: Int64, prefix: String = "", to fd: Int32) throws -> Int {
        try write(count: flows.count, prefix: prefix, to: fd) {
            formatter.append(flows[$0], epochOffsetNs: epochOffsetNs, to: &buffer)
        }
    }

    /// Formats the flows of `batch` and writes them to `fd` after `prefix`; returns the bytes written.
    /// A batch of `parallelFlows` flows or more (a collector's usual 4096) is formatted in two halves
    /// at once on a machine with several CPUs, the second half on another thread, and written in
    /// order: the same bytes in about half the time (formatting, not writing, is what costs).
    @discardableResult
    public func write(_ batch: BiflowBatch, epochOffsetNs: Int64, prefix: String = "", to fd: Int32) throws -> Int {
        let half = batch.count / 2
        guard Self.formatsInParallel, formatter.format != .text, batch.count >= Self.parallelFlows, batch.count <= Self.parallelMaxFlows else {
            return try write(count: batch.count, prefix: prefix, to: fd) {
                formatter.append(batch, range: $0, epochOffsetNs: epochOffsetNs, to: &buffer)
            }
        }
        let second = secondHalf
        second.bytes.removeAll(keepingCapacity: true)
        let group = DispatchGroup()
        let other = formatter
        DispatchQueue.global().async(group: group) {
            other.append(batch, range: half..<batch.count, epochOffsetNs: epochOffsetNs, to: &second.bytes)
        }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: prefix.utf8)
        formatter.append(batch, range: 0..<half, epochOffsetNs: epochOffsetNs, to: &buffer)
        group.wait()
        var written = try flush(to: fd)
        try second.bytes.withUnsafeBytes { try Self.writeAll($0, to: fd) }
        written += second.bytes.count
        return written
    }

    /// The text of a batch's second half, formatted on another thread (read only after it is done).
    private final class SecondHalf: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    /// Reused from batch to batch, as `buffer` is: a fresh one grew (and was page-faulted in) anew
    /// for every batch, megabytes each. Only one batch is formatted at a time (`write` waits for
    /// the other thread before it returns).
    private let secondHalf = SecondHalf()

    /// Whether large batches are formatted on two threads (more than one CPU to run them on).
    static let formatsInParallel = ProcessInfo.processInfo.activeProcessorCount > 1
    /// Smallest batch formatted in two halves: smaller ones cost less than handing one over.
    static let parallelFlows = 2 * chunk
    /// Largest batch formatted in two halves: each half is held whole before it is written, and a
    /// larger batch (flows kept after a failed write) goes in bounded pieces instead.
    static let parallelMaxFlows = 8192

    /// Writes `prefix`, then has `format` append flows `chunk` at a time to `buffer`, writing it out
    /// whenever it passes the threshold and at the end.
    private func write(count: Int, prefix: String, to fd: Int32, _ format: (Range<Int>) -> Void) throws -> Int {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: prefix.utf8)
        var written = 0
        var start = 0
        while start < count {
            let end = Swift.min(start + Self.chunk, count)
            format(start..<end)
            start = end
            if buffer.count >= Self.flushThreshold { written += try flush(to: fd) }
        }
        written += try flush(to: fd)
        return written
    }

    func flush(to fd: Int32) throws -> Int {
        guard !buffer.isEmpty else { return 0 }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { try Self.writeAll($0, to: fd) }
        return buffer.count
    }

    /// Writes every byte to `fd`: one write(2) when the kernel takes it all, more after a partial
    /// write, again after EINTR, and after waiting for room when the descriptor is non-blocking.
    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = systemWrite(fd, p, left)
            if n > 0 {
                p += n
                left -= n
                continue
            }
            let err = n < 0 ? errno : EIO
            switch err {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK:
                var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&ready, 1, -1)
            default:
                throw ExportError.write(Errno(rawValue: err).description)
            }
        }
    }
}

/// write(2), under a name that methods called `write` do not hide.
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, p, count)
}

/// Errors of flow output.
public enum ExportError: Error, CustomStringConvertible {
    /// The output directory is unusable.
    case outputDirectory(String, String)
    /// Writing flows failed (the reason, from the system).
    case write(String)
    /// Writing a batch to an output file failed; the file was cut back to its last whole record.
    case fileWrite(path: String, reason: String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .outputDirectory(dir, why):
            return "output directory '\(dir)' \(why): choose another with --output DIR, or fix its permissions"
        case let .write(why):
            return "writing flows failed: \(why)"
        case let .fileWrite(path, why):
            return "writing flows to \(path) failed (\(why)); the file ends with the last whole flow, and the flows of the failed batch are kept and written again at the next pass: free space there, or choose another folder with --output DIR"
        }
    }
}
