import Foundation

/// A long-running command (a server, a traffic generator) that is terminated when the handle goes away.
public final class SpawnedProcess: @unchecked Sendable {
    /// The command line as given (without the `ip netns exec` prefix).
    public let argv: [String]
    /// The process id of the command.
    public let pid: Int32
    private let process: Process
    private let exited = DispatchSemaphore(value: 0)
    private let logURL: URL
    private let lock = NSLock()
    private var hasExited = false

    /// Starts `launcher + argv`, with stdout and stderr going to a temporary log so a chatty server never blocks.
    init(argv: [String], launcher: [String]) throws {
        self.argv = argv
        let full = launcher + argv
        logURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("flowgen-spawn-\(getpid())-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw TestbedError.systemCall("creating \(logURL.path)", errno: errno)
        }
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let process = Process()
        process.executableURL = try ProcessRunner.locate(full[0])
        process.arguments = Array(full.dropFirst())
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let semaphore = exited
        process.terminationHandler = { _ in semaphore.signal() }
        do {
            // Launched from a clean thread so the child does not inherit a worker thread's blocked SIGTERM.
            try DedicatedThread.run { try process.run() }
        } catch {
            try? FileManager.default.removeItem(at: logURL)
            throw error
        }
        self.process = process
        pid = process.processIdentifier
    }

    deinit {
        terminate()
        try? FileManager.default.removeItem(at: logURL)
    }

    /// True until the process exits.
    public var isRunning: Bool {
        lock.withLock {
            if !hasExited, exited.wait(timeout: .now()) == .success {
                hasExited = true
            }
            return !hasExited
        }
    }

    /// Everything the process wrote to stdout and stderr so far, for diagnosing a failed test.
    public func output() -> String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    /// Sends SIGTERM, then SIGKILL after `grace`, and waits until the process is gone; idempotent.
    public func terminate(grace: Duration = .seconds(2)) {
        lock.withLock {
            guard !hasExited else { return }
            if exited.wait(timeout: .now()) == .timedOut {
                kill(pid, SIGTERM)
                if exited.wait(timeout: .now() + ProcessRunner.seconds(grace)) == .timedOut {
                    kill(pid, SIGKILL)
                    exited.wait()
                }
            }
            hasExited = true
        }
    }

    /// Waits up to `timeout` for the process to exit on its own; returns its exit status, or nil if still running.
    public func wait(timeout: Duration) -> Int32? {
        let done = lock.withLock {
            if !hasExited, exited.wait(timeout: .now() + ProcessRunner.seconds(timeout)) == .success {
                hasExited = true
            }
            return hasExited
        }
        return done ? process.terminationStatus : nil
    }
}
