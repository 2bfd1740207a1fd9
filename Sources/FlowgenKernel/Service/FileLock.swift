import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An advisory `flock` on a file, released when the value is closed or deinitialised, and by the
/// kernel when the process dies in any way (SIGKILL included), so a crashed collector never
/// leaves its instance locked.
public final class FileLock: @unchecked Sendable {
    /// The lock file.
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// Takes an exclusive lock on `path` (created 0600 if missing); nil when another process holds it
    /// and `wait` is false.
    public static func acquire(_ path: String, wait: Bool) throws -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KernelError.systemCall(operation: "opening lock file \(path)", code: errno) }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw KernelError.systemCall(operation: "locking \(path)", code: code)
        }
        return FileLock(path: path, fd: fd)
    }

    /// True when some process holds the lock on `path` (false when the file does not exist).
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Releases the lock (idempotent).
    public func release() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}
