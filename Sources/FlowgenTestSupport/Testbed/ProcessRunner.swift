import Foundation
import FlowgenCore
import FlowgenKernel

/// Runs commands through the product's launcher (`ChildProcess`), never through a shell: arguments
/// stay an array, so no quoting bugs.
public enum ProcessRunner {
    /// Runs `argv` to completion in the caller's namespaces; kills it and throws `.timedOut` after `timeout`.
    /// With `discardingStandardOutput` its standard output goes to /dev/null (`stdout` is then empty).
    public static func run(_ argv: [String], timeout: Duration = .seconds(30), discardingStandardOutput: Bool = false) throws -> ProcessResult {
        precondition(!argv.isEmpty, "ProcessRunner.run needs a command")
        let executable = try locate(argv[0]).path
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, Array(argv.dropFirst()), timeout: timeout,
                                          discardingStandardOutput: discardingStandardOutput)
        } catch .timedOut {
            throw TestbedError.timedOut(argv: argv, timeout: timeout)
        } catch .cannotStart(_, let code) {
            throw TestbedError.systemCall("starting \(argv[0])", errno: code)
        }
        return ProcessResult(
            argv: argv,
            status: output.termination.status,
            terminatedBySignal: output.termination.bySignal,
            stdout: output.stdoutText,
            stderr: output.stderrText)
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
}
