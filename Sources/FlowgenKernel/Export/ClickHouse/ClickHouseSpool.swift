import FlowgenCore
import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Batches kept on disk while ClickHouse is unreachable, sent again in order when it is back and
/// by the next run if this one ends first. One file per batch, named by a sequence number, mode
/// 0600 in a folder of mode 0700 that only this user (or root) can change (flows say who talks to
/// whom); written to a temporary name and renamed, so a crash never leaves half a batch. Bounded:
/// a batch that would pass `maxBytes` is not written, and the caller counts it lost.
public final class ClickHouseSpool {
    /// The folder.
    public let directory: String
    /// Bytes of batch files at most.
    public let maxBytes: Int
    /// Sequence numbers and sizes of the files, oldest first.
    private(set) var files: [(sequence: UInt64, bytes: Int, rows: Int)] = []
    private var nextSequence: UInt64 = 1

    /// The first line of every batch file.
    static let magic = "flowgen-clickhouse-spool-1"

    /// Opens (creating) `directory`, refusing one that others could change, and lists what an
    /// earlier run left there.
    public init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try PathTrust.effectiveUser.check(directory, is: .directory)
        } catch {
            throw ClickHouseError.spool(directory, "\(error)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            if name.hasPrefix(".tmp-") { unlink(directory + "/" + name); continue }
            guard name.hasSuffix(".batch"), let sequence = UInt64(name.dropLast(6)) else { continue }
            guard let (rows, _, size) = try? Self.header(of: directory + "/" + name) else { continue }
            files.append((sequence, size, rows))
        }
        files.sort { $0.sequence < $1.sequence }
        nextSequence = (files.last?.sequence ?? 0) + 1
    }

    /// Whether no batch is kept.
    public var isEmpty: Bool { files.isEmpty }
    /// Rows kept.
    public var rows: Int { files.reduce(0) { $0 + $1.rows } }
    /// Bytes kept.
    public var bytes: Int { files.reduce(0) { $0 + $1.bytes } }

    func path(_ sequence: UInt64) -> String { directory + "/" + String(format: "%020llu", sequence) + ".batch" }

    /// Keeps a batch (its INSERT query and RowBinary rows); false when the spool is full.
    public func append(query: String, rows: Int, body: [UInt8]) throws -> Bool {
        let head = Array("\(Self.magic)\n\(rows)\n\(query)\n".utf8)
        guard bytes + head.count + body.count <= maxBytes else { return false }
        let sequence = nextSequence
        let final = path(sequence)
        let temporary = directory + "/.tmp-\(getpid())-\(sequence)"
        do {
            let fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                                             permissions: [.ownerReadWrite])
            try fd.closeAfter {
                _ = try fd.writeAll(head)
                _ = try fd.writeAll(body)
                guard fsync(fd.rawValue) == 0 else { throw Errno(rawValue: errno) }
            }
        } catch {
            unlink(temporary)
            throw ClickHouseError.spool(directory, "writing a batch to \(temporary) failed: \(error)")
        }
        guard rename(temporary, final) == 0 else {
            let reason = Errno(rawValue: errno).description
            unlink(temporary)
            throw ClickHouseError.spool(directory, "cannot rename \(temporary): \(reason)")
        }
        nextSequence += 1
        files.append((sequence, head.count + body.count, rows))
        return true
    }

    /// The oldest batch: its sequence number, query, rows and RowBinary body.
    public func oldest() throws -> (sequence: UInt64, query: String, rows: Int, body: [UInt8])? {
        guard let first = files.first else { return nil }
        let path = path(first.sequence)
        let (rows, query, _) = try Self.header(of: path)
        guard let data = FileManager.default.contents(atPath: path) else { throw ClickHouseError.spool(directory, "cannot read \(path)") }
        let start = Array("\(Self.magic)\n\(rows)\n\(query)\n".utf8).count
        return (first.sequence, query, rows, Array(data[start...]))
    }

    /// Forgets the oldest batch (delivered, or given up).
    public func removeOldest() {
        guard let first = files.first else { return }
        unlink(path(first.sequence))
        files.removeFirst()
    }

    /// Rows, query and file size of a batch file.
    static func header(of path: String) throws -> (Int, String, Int) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.noFollow, .closeOnExec])
        } catch {
            throw ClickHouseError.spool(path, "\(error)")
        }
        defer { try? fd.close() }
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw ClickHouseError.spool(path, "not a regular file") }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = (try? buffer.withUnsafeMutableBytes { try fd.read(into: $0) }) ?? 0
        let lines = String(decoding: buffer[0..<Swift.max(0, n)], as: UTF8.self).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        guard lines.count >= 4, lines[0] == magic, let rows = Int(lines[1]) else { throw ClickHouseError.spool(path, "not a flowgen spool batch") }
        return (rows, String(lines[2]), Int(info.st_size))
    }
}
