import Foundation

/// Runs commands with Foundation `Process`, never through a shell: arguments stay an array, so no quoting bugs.
public enum ProcessRunner {
    /// Runs `argv` to completion in the caller's namespaces; kills it and throws `.timedOut` after `timeout`.
    public static func run(_ argv: [String], timeout: Duration = .seconds(30)) throws -> ProcessResult {
        precondition(!argv.isEmpty, "ProcessRunner.run needs a command")
        let process = Process()
        process.executableURL = try locate(argv[0])
        process.arguments = Array(argv.dropFirst())
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        // Launched from a clean thread so the child does not inherit a worker thread's blocked SIGTERM.
        try DedicatedThread.run { try process.run() }

        // Both pipes are drained while the child runs: a child filling one pipe would otherwise block forever.
        let stdout = PipeCollector(stdoutPipe.fileHandleForReading)
        let stderr = PipeCollector(stderrPipe.fileHandleForReading)

        var timedOut = false
        if exited.wait(timeout: .now() + seconds(timeout)) == .timedOut {
            timedOut = true
            process.terminate()
            if exited.wait(timeout: .now() + 1) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
        }
        // A grandchild that inherited the pipe could hold it open; do not wait for it indefinitely.
        let stdoutText = stdout.text(waiting: .seconds(2))
        let stderrText = stderr.text(waiting: .seconds(2))
        if timedOut {
            throw TestbedError.timedOut(argv: argv, timeout: timeout)
        }
        return ProcessResult(
            argv: argv,
            status: process.terminationStatus,
            terminatedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: stdoutText,
            stderr: stderrText)
    }

    /// Resolves a command name through PATH plus the sbin directories root tools live in.
    public static func locate(_ name: String) throws -> URL {
        if name.contains("/") {
            return URL(fileURLWithPath: name)
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return URL(fileURLWithPath: candidate)
            }
        }
        throw TestbedError.executableNotFound(name)
    }

    /// A `Duration` as fractional seconds, for Dispatch deadlines.
    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// Reads a pipe to end-of-file on a background queue and hands the text over once done.
    final class PipeCollector: @unchecked Sendable {
        private let lock = NSLock()
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()

        init(_ handle: FileHandle) {
            DispatchQueue.global().async { [self] in
                let read = handle.readDataToEndOfFile()
                lock.withLock { data = read }
                done.signal()
            }
        }

        /// The collected output, or what is known so far (nothing) when end-of-file does not come in time.
        func text(waiting timeout: Duration) -> String {
            _ = done.wait(timeout: .now() + ProcessRunner.seconds(timeout))
            return lock.withLock { String(decoding: data, as: UTF8.self) }
        }
    }
}
