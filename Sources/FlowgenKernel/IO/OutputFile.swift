import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Opens the files flowgen writes (flow files, IPFIX files, logs, statistics) so that a name
/// planted by another user in a folder they can write cannot redirect root's output: a symlink is
/// never followed, and only a regular file with a single link and this user as owner is appended
/// to. (The kernel's `fs.protected_symlinks` guards only sticky folders, and may be off.)
public enum OutputFile {
    /// Why a file was refused or could not be opened.
    public struct Refused: Error, Equatable, CustomStringConvertible {
        /// The file.
        public var path: String
        /// What is wrong, and what to do.
        public var reason: String

        /// "cannot write PATH: REASON".
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Opens `path` for appending, creating it with `mode` when missing (the umask cannot widen
    /// it); returns the descriptor and whether the file is empty (a new file, which wants a header).
    public static func openForAppend(_ path: String, mode: mode_t = 0o640) throws -> (fd: Int32, isEmpty: Bool) {
        // O_NONBLOCK: opening a FIFO planted under the name must not hang; cleared once it is known regular
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            throw Refused(path: path, reason: code == ELOOP
                ? "it is a symlink, and flowgen never writes through one: remove it, or choose another output folder"
                : Errno(rawValue: code).description)
        }
        var info = stat()
        do {
            guard fstat(fd, &info) == 0 else { throw Refused(path: path, reason: Errno(rawValue: errno).description) }
            try checkOwnFile(info, path)
        } catch {
            close(fd)
            throw error
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, info.st_size == 0)
    }

    /// Writes `data` to a fresh file beside `path` (mode `mode`) and renames it over `path`: a
    /// symlink or another file at `path` is replaced, never written through.
    public static func replace(_ path: String, with data: Data, mode: mode_t = 0o640) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Refused(path: path, reason: Errno(rawValue: errno).description) }
        do {
            try data.withUnsafeBytes { try FlowTextWriter.writeAll($0, to: fd) }
        } catch {
            close(fd)
            unlink(temporary)
            throw Refused(path: path, reason: "\(error)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = Errno(rawValue: errno).description
            unlink(temporary)
            throw Refused(path: path, reason: reason)
        }
    }

    /// The null device's number, major 1 minor 3 (Linux's devices.txt), as glibc's makedev encodes it.
    static let nullDevice: dev_t = (1 << 8) | 3

    /// A regular file with one link, owned by this user: anything else may be another user's
    /// way to have root write where they choose (a hard link to a file they cannot write), or read
    /// what root writes (a file of theirs).
    static func checkOwnFile(_ info: stat, _ path: String) throws {
        // the null device discards what it is given: writing it can redirect nothing (the bench
        // and `--output /dev/null` runs use it); recognised by its number, not its name
        if (info.st_mode & S_IFMT) == S_IFCHR, info.st_rdev == nullDevice { return }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw Refused(path: path, reason: "it is not a regular file: remove it, or choose another output folder")
        }
        guard info.st_nlink == 1 else {
            throw Refused(path: path, reason: "it has \(info.st_nlink) hard links, so writing it would change another file too: remove it, or choose another output folder")
        }
        guard info.st_uid == geteuid() else {
            throw Refused(path: path, reason: "it belongs to uid \(info.st_uid), not to this user (uid \(geteuid())): remove it, or choose another output folder")
        }
    }
}
