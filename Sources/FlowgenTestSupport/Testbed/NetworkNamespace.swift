import Foundation
import FlowgenCore
import FlowgenKernel
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway named network namespace (`ip netns add`) for end-to-end tests and benchmarks.
///
/// Deleting the namespace (in `destroy()` or `deinit`) first ends every process still inside it,
/// because a namespace with a live process keeps its interfaces alive after `ip netns delete`.
public final class NetworkNamespace: @unchecked Sendable, CustomStringConvertible {
    /// The name `ip netns` knows the namespace by.
    public let name: String

    private let lock = NSLock()
    private var destroyed = false
    private var children: [WeakProcess] = []

    /// Creates the namespace and brings its loopback up; throws if the name already exists.
    public init(name: String) throws {
        guard NetworkNamespace.isValidName(name) else { throw TestbedError.invalidName(name) }
        self.name = name
        try ProcessRunner.run(["ip", "netns", "add", name]).check()
        do {
            try ProcessRunner.run(["ip", "-n", name, "link", "set", "lo", "up"]).check()
        } catch {
            _ = try? ProcessRunner.run(["ip", "netns", "delete", name])
            destroyed = true
            throw error
        }
    }

    /// Creates a namespace named `unique(prefix:)`.
    public convenience init(prefix: String) throws {
        try self.init(name: NetworkNamespace.unique(prefix: prefix))
    }

    deinit {
        try? destroy()
    }

    /// The bind-mounted namespace file that `setns` opens.
    public var path: String { "/var/run/netns/\(name)" }

    /// The name, for test messages.
    public var description: String { name }

    /// True once `destroy()` succeeded.
    public var isDestroyed: Bool { lock.withLock { destroyed } }

    // MARK: Names

    /// A name unique per process and call, "`prefix`-pid-counter", so parallel tests and test processes never clash.
    public static func unique(prefix: String) -> String {
        "\(prefix)-\(getpid())-\(nextSerial())"
    }

    /// The process-wide counter behind unique namespace and interface names.
    static func nextSerial() -> Int {
        serialLock.withLock {
            serial += 1
            return serial
        }
    }

    private static let serialLock = NSLock()
    nonisolated(unsafe) private static var serial = 0

    /// Names `ip netns` accepts and that are safe as a file name under /var/run/netns.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    // MARK: Listing and cleanup

    /// Names of every named network namespace (`ip netns list`).
    public static func list() throws -> [String] {
        let result = try ProcessRunner.run(["ip", "netns", "list"]).check()
        // Lines look like "name (id: 3)" or just "name".
        return result.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map(String.init)
        }
    }

    /// Deletes namespaces named `prefix-...` left behind by crashed runs; returns the names removed.
    ///
    /// Names made by `unique(prefix:)` whose process is still alive are kept unless `includingLive`,
    /// because a suite starting up must not delete namespaces that a parallel suite is using.
    @discardableResult
    public static func cleanupStale(prefix: String, includingLive: Bool = false) throws -> [String] {
        var removed: [String] = []
        for name in try list() where name.hasPrefix(prefix + "-") {
            let fields = name.dropFirst(prefix.count + 1).split(separator: "-")
            if !includingLive, fields.count == 2, let pid = Int32(fields[0]), Int(fields[1]) != nil,
               pid == getpid() || kill(pid, 0) == 0 || errno == EPERM {
                continue
            }
            try delete(name: name)
            removed.append(name)
        }
        return removed
    }

    /// Kills what still runs inside the namespace, then deletes it; a namespace that is already gone is fine.
    static func delete(name: String) throws {
        if let pids = try? ProcessRunner.run(["ip", "netns", "pids", name]), pids.succeeded {
            for pid in pids.stdout.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) {
                kill(pid, SIGKILL)
            }
        }
        let result = try ProcessRunner.run(["ip", "netns", "delete", name])
        guard result.succeeded || !FileManager.default.fileExists(atPath: "/var/run/netns/\(name)") else {
            throw TestbedError.commandFailed(argv: result.argv, status: result.status, stderr: result.stderr)
        }
    }

    /// Terminates spawned processes and deletes the namespace (its veth ends go with it); idempotent.
    public func destroy() throws {
        try lock.withLock {
            guard !destroyed else { return }
            for child in children {
                child.process?.terminate()
            }
            children.removeAll()
            try NetworkNamespace.delete(name: name)
            destroyed = true
        }
    }

    private func checkAlive() throws {
        if isDestroyed { throw TestbedError.namespaceDestroyed(name) }
    }

    // MARK: Commands

    /// Runs `argv` inside the namespace (`ip netns exec`) and waits for it; a non-zero exit is returned, not thrown.
    public func exec(_ argv: [String], timeout: Duration = .seconds(30)) throws -> ProcessResult {
        try checkAlive()
        let result = try ProcessRunner.run(["ip", "netns", "exec", name] + argv, timeout: timeout)
        // Report the command the caller asked for, not the ip wrapper around it.
        return ProcessResult(argv: argv, status: result.status, terminatedBySignal: result.terminatedBySignal,
                             stdout: result.stdout, stderr: result.stderr)
    }

    /// Starts `argv` inside the namespace without waiting; it ends with the handle or with the namespace.
    public func spawn(_ argv: [String]) throws -> SpawnedProcess {
        try checkAlive()
        let process = try SpawnedProcess(argv: argv, launcher: ["ip", "netns", "exec", name])
        lock.withLock {
            children.removeAll { $0.process == nil }
            children.append(WeakProcess(process: process))
        }
        return process
    }

    // MARK: Running Swift code inside

    /// Runs `body` on a fresh thread that has joined this namespace, and returns its result.
    ///
    /// `setns` only moves the calling thread, so a dedicated thread joins the namespace, runs the body and
    /// exits: a switched thread must never return to a pool where unrelated work would inherit it.
    /// Sockets, netlink and `if_nametoindex` in `body` see this namespace; /sys and /proc/net do not.
    /// Blocks the caller until the body finishes.
    public func run<T>(_ body: () throws -> T) throws -> T {
        try checkAlive()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestbedError.systemCall("open(\(path))", errno: errno) }
        defer { close(fd) }
        guard let setns = NetworkNamespace.setns else {
            throw TestbedError.systemCall("dlsym(setns)", errno: ENOSYS)
        }
        return try DedicatedThread.run {
            guard setns(fd, NetworkNamespace.cloneNewNet) == 0 else {
                throw TestbedError.systemCall("setns(\(path))", errno: errno)
            }
            return try body()
        }
    }

    /// The interface index of `interface` inside the namespace.
    public func interfaceIndex(_ interface: String) throws -> Int32 {
        let index = try run { if_nametoindex(interface) }
        guard index != 0 else { throw TestbedError.interfaceNotFound(interface, namespace: name) }
        return Int32(index)
    }

    /// Polls until a TCP connect to `host`:`port` from inside the namespace succeeds (e.g. a spawned server is up).
    public func waitUntilListening(host: String, port: UInt16, timeout: Duration = .seconds(10)) throws {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if try run({ NetworkNamespace.canConnect(host: host, port: port) }) {
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        } while ContinuousClock.now < deadline
        throw TestbedError.notListening(host: host, port: port)
    }

    /// One TCP connect attempt to a numeric IPv4 or IPv6 address.
    private static func canConnect(host: String, port: UInt16) -> Bool {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            family = AF_INET
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            family = AF_INET6
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
        } else {
            return false
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | O_CLOEXEC, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let status: Int32
        if family == AF_INET {
            status = withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            status = withUnsafePointer(to: &v6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        return status == 0
    }
}

extension NetworkNamespace {
    /// A weak reference, so a spawned process still ends when the test drops its handle.
    struct WeakProcess {
        weak var process: SpawnedProcess?
    }

    /// Swift's Glibc module hides `setns` (it needs _GNU_SOURCE), so it is looked up at run time.
    static let setns: (@convention(c) (Int32, Int32) -> Int32)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "setns") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()

    /// CLONE_NEWNET from <sched.h>, which Swift's Glibc module does not export.
    static let cloneNewNet: Int32 = 0x4000_0000
}
