import Foundation
import FlowgenCore
import FlowgenKernel

/// A long-running command (a server, a traffic generator) that is terminated when the handle goes away.
public final class SpawnedProcess: @unchecked Sendable {
    /// The command line as given (without the `ip netns exec` prefix).
    public let argv: [String]
    /// The process id of the command.
    public var pid: Int32 { child.pid }
    private let child: ChildProcess
    private let logPath: String

    /// Starts `launcher + argv` through the product's launcher, with stdout and stderr going to a
    /// temporary log so a chatty server never blocks.
    init(argv: [String], launcher: [String]) throws {
        self.argv = argv
        let full = launcher + argv
        logPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("flowgen-spawn-\(getpid())-\(UUID().uuidString).log").path
        let executable = try ProcessRunner.locate(full[0]).path
        do {
            child = try ChildProcess(executable, Array(full.dropFirst()), outputFile: logPath)
        } catch {
            try? FileManager.default.removeItem(atPath: logPath)
            throw TestbedError.systemCall("starting \(full[0])", errno: {
                if case .cannotStart(_, let code) = error { return code } else { return EIO }
            }())
        }
    }

    deinit {
        child.terminate()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// True until the process exits.
    public var isRunning: Bool { child.isRunning }

    /// Everything the process wrote to stdout and stderr so far, for diagnosing a failed test.
    public func output() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Sends SIGTERM, then SIGKILL after `grace`, and waits until the process is gone; idempotent.
    public func terminate(grace: Duration = .seconds(2)) {
        child.terminate(grace: grace)
    }

    /// Waits up to `timeout` for the process to exit on its own; returns its exit status, or nil if still running.
    public func wait(timeout: Duration) -> Int32? {
        child.wait(timeout: timeout)?.status
    }
}
