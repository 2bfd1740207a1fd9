import Foundation
import SystemPackage
import CLibBPF
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one way flowgen starts another program (clang, and the tests' and benchmark's tools): `posix_spawn`,
/// never a shell, always with a deadline.
///
/// Foundation's `Process` needs a socket pair for its run loop, which cannot be made in a network
/// namespace whose `lo` is down ("Could not create wakeup socket pair"): a cache-miss compile then
/// hung for good. `posix_spawn` needs pipes only, and the child starts with no blocked signal and
/// SIGTERM, SIGINT and SIGPIPE at their defaults, whichever thread launched it.
public final class ChildProcess: @unchecked Sendable {
    /// How a child ended: its exit status, or the signal that ended it.
    public struct Termination: Sendable, Equatable {
        /// The exit status, or the signal number when `bySignal` is true.
        public let status: Int32
        /// True when a signal ended the process instead of exit().
        public let bySignal: Bool
    }

    /// What a program run to completion printed and how it ended.
    public struct Output: Sendable, Equatable {
        /// How it ended.
        public let termination: Termination
        /// Standard output, as bytes.
        public let stdout: [UInt8]
        /// Standard error, as bytes.
        public let stderr: [UInt8]
        /// Standard output decoded as UTF-8 (invalid bytes replaced).
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// Standard error decoded as UTF-8 (invalid bytes replaced).
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Why a program could not be run.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// posix_spawn (or the pipes before it) failed: the program is missing, not executable, or the system is out of processes.
        case cannotStart(argv: [String], code: Int32)
        /// The program did not finish in time and was killed (SIGTERM, SIGKILL a second later).
        case timedOut(argv: [String], timeout: Duration)

        /// One line naming the program and what to do.
        public var description: String {
            switch self {
            case .cannotStart(let argv, let code):
                return "cannot start \(argv.first ?? "?"): \(Errno(rawValue: code).description) (check that it is installed and executable)"
            case .timedOut(let argv, let timeout):
                return "\(argv.joined(separator: " ")) did not finish within \(timeout) and was killed"
            }
        }
    }

    /// The command line as started (program first).
    public let argv: [String]
    /// The child's process id.
    public let pid: pid_t
    private let lock = NSLock()
    private var ended: Termination?

    /// Starts `executable` (a path, or a name looked up on PATH) with `arguments`; standard input is
    /// /dev/null, standard output and error go to `outputFile` (created or truncated, mode 0600) or to
    /// /dev/null. The caller waits for it (`wait`) or ends it (`terminate`); `deinit` ends it too.
    public convenience init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                            workingDirectory: String? = nil, outputFile: String? = nil) throws(Failure) {
        let argv = [executable] + arguments
        let target = outputFile ?? "/dev/null"
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotStart(argv: argv, code: errno) }
        defer { close(fd) }
        let pid = try Self.spawn(argv, environment: environment, workingDirectory: workingDirectory, stdout: fd, stderr: fd)
        self.init(argv: argv, pid: pid)
    }

    private init(argv: [String], pid: pid_t) {
        self.argv = argv
        self.pid = pid
    }

    deinit {
        terminate(grace: .seconds(1))
    }

    /// True until the process has exited (and been reaped).
    public var isRunning: Bool { lock.withLock { reap(blocking: false) == nil } }

    /// Waits up to `timeout` for the process to exit; its termination, or nil while it still runs.
    public func wait(timeout: Duration) -> Termination? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while true {
            if let done = lock.withLock({ reap(blocking: false) }) { return done }
            if ContinuousClock.now >= deadline { return nil }
            Self.sleep(min(pause, deadline - ContinuousClock.now))
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// Sends SIGTERM, then SIGKILL after `grace`, and reaps the process; does nothing once it has exited.
    @discardableResult
    public func terminate(grace: Duration = .seconds(2)) -> Termination {
        if let done = lock.withLock({ reap(blocking: false) }) { return done }
        kill(pid, SIGTERM)
        if let done = wait(timeout: grace) { return done }
        kill(pid, SIGKILL)
        return lock.withLock { reap(blocking: true)! }
    }

    /// The termination once known; `waitpid` is called by this object only, under the lock.
    private func reap(blocking: Bool) -> Termination? {
        if let ended { return ended }
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == -1 && errno == EINTR { continue }
            guard result == pid else {
                // ECHILD: someone else reaped it; report it gone rather than running forever
                if result == -1 { ended = Termination(status: -1, bySignal: false) }
                return ended
            }
            break
        }
        // WIFSIGNALED/WEXITSTATUS are macros Swift does not import: the low 7 bits are the signal
        let signal = status & 0x7f
        ended = signal != 0 ? Termination(status: signal, bySignal: true) : Termination(status: (status >> 8) & 0xff, bySignal: false)
        return ended
    }

    /// Runs a program to completion and returns what it printed; after `timeout` it is killed and
    /// `.timedOut` thrown. Both pipes are read while it runs, so a chatty child never blocks, and a
    /// grandchild that keeps them open delays the result by two seconds at most. With
    /// `discardingStandardOutput` the child writes its standard output to /dev/null (a benchmark
    /// timing a program whose output would otherwise be copied through a pipe into this process).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           workingDirectory: String? = nil, timeout: Duration,
                           discardingStandardOutput: Bool = false) throws(Failure) -> Output {
        let argv = [executable] + arguments
        let devNull = discardingStandardOutput ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1
        if discardingStandardOutput && devNull < 0 { throw .cannotStart(argv: argv, code: errno) }
        defer { if devNull >= 0 { close(devNull) } }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe2(&outPipe, O_CLOEXEC) == 0 else { throw .cannotStart(argv: argv, code: errno) }
        guard pipe2(&errPipe, O_CLOEXEC) == 0 else {
            let code = errno
            close(outPipe[0]); close(outPipe[1])
            throw .cannotStart(argv: argv, code: code)
        }
        let pid: pid_t
        do {
            pid = try spawn(argv, environment: environment, workingDirectory: workingDirectory,
                            stdout: devNull >= 0 ? devNull : outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1]); close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        let child = ChildProcess(argv: argv, pid: pid)

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var reading = [(fd: outPipe[0], isOut: true), (fd: errPipe[0], isOut: false)]
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var drainDeadline: ContinuousClock.Instant?
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !reading.isEmpty {
            let now = clock.now
            if now >= deadline {
                child.terminate(grace: .seconds(1))
                throw .timedOut(argv: argv, timeout: timeout)
            }
            if drainDeadline == nil, !child.isRunning { drainDeadline = now + .seconds(2) }
            if let drainDeadline, now >= drainDeadline { break }
            var fds = reading.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            // short slices: the child's exit is noticed even while a grandchild holds a pipe open
            let ready = poll(&fds, nfds_t(fds.count), 50)
            if ready < 0 && errno != EINTR { break }
            guard ready > 0 else { continue }
            var closed: Set<Int32> = []
            for entry in fds where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress!, $0.count) }
                if n > 0 {
                    let isOut = reading.first { $0.fd == entry.fd }!.isOut
                    if isOut { stdout += buffer[0..<n] } else { stderr += buffer[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    closed.insert(entry.fd)
                }
            }
            reading.removeAll { closed.contains($0.fd) }
        }
        let remaining = deadline - clock.now
        guard let termination = child.wait(timeout: max(remaining, .zero)) else {
            child.terminate(grace: .seconds(1))
            throw .timedOut(argv: argv, timeout: timeout)
        }
        return Output(termination: termination, stdout: stdout, stderr: stderr)
    }

    /// posix_spawn with /dev/null as standard input, `stdout`/`stderr` as given, every other
    /// descriptor closed, a clean signal mask and default dispositions.
    private static func spawn(_ argv: [String], environment: [String: String]?, workingDirectory: String?,
                              stdout: Int32, stderr: Int32) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        if let workingDirectory { posix_spawn_file_actions_addchdir_np(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environmentLines = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        var pid: pid_t = 0
        let code = withCStrings(argv) { argvPointers in
            guard let environmentLines else {
                return argv[0].contains("/")
                    ? posix_spawn(&pid, argv[0], &actions, &attributes, argvPointers, environ)
                    : posix_spawnp(&pid, argv[0], &actions, &attributes, argvPointers, environ)
            }
            return withCStrings(environmentLines) { environmentPointers in
                argv[0].contains("/")
                    ? posix_spawn(&pid, argv[0], &actions, &attributes, argvPointers, environmentPointers)
                    : posix_spawnp(&pid, argv[0], &actions, &attributes, argvPointers, environmentPointers)
            }
        }
        guard code == 0 else { throw .cannotStart(argv: argv, code: code) }
        return pid
    }

    /// A NULL-terminated C array of `strings`, valid inside `body`.
    private static func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }

    /// Sleeps without Foundation's run loop.
    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
