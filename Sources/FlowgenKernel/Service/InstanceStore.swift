import Foundation
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes instance state files. Every change is a read-modify-write under the
/// instance's state lock, written to a temporary file and renamed, so a reader never sees half a
/// file and two processes (a collector and `flowgen unload`) never lose each other's changes.
public enum InstanceStore {
    /// Names of every instance with a state file or a pin directory, sorted.
    public static func names(pinRoot: String = InstancePaths.defaultPinRoot,
                             stateRoot: String = InstancePaths.defaultStateRoot) -> [String] {
        var names = Set<String>()
        for root in [stateRoot, pinRoot] {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where InstancePaths.isValidName(entry) {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + entry, isDirectory: &isDirectory), isDirectory.boolValue {
                    names.insert(entry)
                }
            }
        }
        return names.sorted()
    }

    /// The state of an instance, nil when it has no state file.
    public static func read(_ paths: InstancePaths) throws -> InstanceState? {
        try checkPrivateIfPresent(paths.stateDirectory)
        guard let data = FileManager.default.contents(atPath: paths.stateFile) else { return nil }
        do {
            return try InstanceState.decode(data)
        } catch {
            throw InstanceError.stateUnreadable(path: paths.stateFile, reason: "\(error)")
        }
    }

    /// Writes `state` (and the plan manifest when given), creating the state directory (0700).
    public static func write(_ state: InstanceState, plan: String? = nil, _ paths: InstancePaths) throws {
        try createDirectories(paths.stateRoot, paths.stateDirectory)
        try lockedWrite(paths) {
            try atomicWrite(state.json(), to: paths.stateFile)
            if let plan { try atomicWrite(Data(plan.utf8), to: paths.planFile) }
        }
    }

    /// Applies `change` to the stored state under the state lock; returns the new state, or nil
    /// (and calls nothing) when the instance has no state file.
    @discardableResult
    public static func update(_ paths: InstancePaths, _ change: (inout InstanceState) throws -> Void) throws -> InstanceState? {
        guard FileManager.default.fileExists(atPath: paths.stateDirectory) else { return nil }
        return try lockedWrite(paths) {
            guard var state = try read(paths) else { return nil }
            try change(&state)
            try atomicWrite(state.json(), to: paths.stateFile)
            return state
        }
    }

    /// Removes the state directory (state, plan and lock files), and the state root once empty.
    public static func remove(_ paths: InstancePaths) {
        try? FileManager.default.removeItem(atPath: paths.stateDirectory)
        rmdir(paths.stateRoot)
    }

    /// Removes the state and plan files but keeps the directory and its locks (for a process that
    /// holds the collector lock and goes on to load the instance afresh).
    static func removeStateFiles(_ paths: InstancePaths) {
        unlink(paths.stateFile)
        unlink(paths.planFile)
    }

    static func lockedWrite<T>(_ paths: InstancePaths, _ body: () throws -> T) throws -> T {
        let lock = try FileLock.acquire(paths.stateLockFile, wait: true)
        defer { lock?.release() }
        return try body()
    }

    /// Creates `root` and `directory` (inside it) with mode 0700, retrying when another process
    /// removed the empty root in between (the last instance going away); both must then pass
    /// `checkPrivate`.
    static func createDirectories(_ root: String, _ directory: String) throws {
        var attempt = 0
        while true {
            try createDirectory(root)
            if mkdir(directory, 0o700) == 0 || errno == EEXIST { return try checkPrivate(directory) }
            let code = errno
            attempt += 1
            guard code == ENOENT, attempt < 5 else {
                throw KernelError.systemCall(operation: "creating directory \(directory)", code: code)
            }
        }
    }

    /// Creates `path` with mode 0700 if it does not exist, and checks it with `checkPrivate`.
    static func createDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw KernelError.systemCall(operation: "creating directory \(path)", code: errno)
        }
        try checkPrivate(path)
    }

    /// Fails unless `path` (a pin or state root, or an instance's directory in one) and every
    /// folder above it are owned by this user (or root) and writable by nobody else. /sys/fs/bpf
    /// is mode 1777: a user who created /sys/fs/bpf/flowgen first could move root's pins away, so
    /// that a restarted collector finds nothing and the packets counted meanwhile are never exported.
    static func checkPrivate(_ path: String) throws {
        do {
            try PathTrust.effectiveUser.check(path, is: .directory)
        } catch let untrusted as PathTrust.Untrusted {
            throw InstanceError.untrustedDirectory(path: path, reason: untrusted.description)
        }
    }

    /// `checkPrivate` of `path` when it exists (nothing to trust yet otherwise).
    static func checkPrivateIfPresent(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) == 0 { try checkPrivate(path) }
    }

    /// Writes `data` to a temporary file (mode 0600) beside `path` and renames it over `path`.
    static func atomicWrite(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KernelError.systemCall(operation: "writing \(temporary)", code: errno) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let code = errno
        close(fd)
        guard written == data.count else {
            unlink(temporary)
            throw KernelError.systemCall(operation: "writing \(temporary)", code: written < 0 ? code : EIO)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw KernelError.systemCall(operation: "renaming \(temporary) to \(path)", code: code)
        }
    }
}
