import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The network namespace an attachment was made in, held open so detaching acts on the same
/// interface even when it runs on another thread (ifindexes are per namespace: index 2 in the
/// root namespace is usually the host's uplink, not the test veth that had index 2).
final class AttachmentNamespace: @unchecked Sendable {
    /// Device and inode of the namespace file: equal pairs mean the same namespace.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    let identity: Identity
    private var fd: Int32

    /// Captures the calling thread's current network namespace.
    init() throws {
        let descriptor = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw KernelError.systemCall(operation: "opening /proc/thread-self/ns/net", code: errno)
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw KernelError.systemCall(operation: "fstat of the network namespace", code: code)
        }
        fd = descriptor
        identity = Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Identity of the calling thread's network namespace, nil if /proc is unavailable.
    static func currentIdentity() -> Identity? {
        var info = stat()
        guard stat("/proc/thread-self/ns/net", &info) == 0 else { return nil }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Runs `body` inside this namespace: inline when the caller is already there, otherwise on a
    /// dedicated thread that enters it (setns affects only the calling thread, and that thread ends
    /// afterwards, so no pool thread is ever left in a foreign namespace).
    func perform<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        if Self.currentIdentity() == identity { return try body() }
        let box = ResultBox<T>()
        let descriptor = fd
        let thread = Thread {
            let rc = fg_setns_net(descriptor)
            if rc < 0 {
                box.result = .failure(KernelError.namespaceFailed(
                    name: "inode \(self.identity.inode)",
                    reason: "cannot enter it to detach: \(KernelError.errnoDescription(rc))"))
            } else {
                box.result = Result { try body() }
            }
            box.done.signal()
        }
        thread.start()
        box.done.wait()
        return try box.result!.get()
    }

    /// Hand-off slot between the namespace thread and the waiting caller.
    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, Error>?
        let done = DispatchSemaphore(value: 0)
    }
}
