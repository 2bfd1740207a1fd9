import Foundation
import Testing
import FlowgenCore
import Synchronization
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The one launcher: exit status, both pipes, environment, folder, timeout, and a compile in a
/// namespace whose `lo` is down (where Foundation's `Process` hung).
@Suite struct ChildProcessTests {
    @Test func reportsStatusSignalAndBothStreams() throws {
        let ok = try ChildProcess.run("/bin/sh", ["-c", "printf out; printf err >&2; exit 3"], timeout: .seconds(30))
        #expect(ok.termination == .init(status: 3, bySignal: false))
        #expect(ok.stdoutText == "out" && ok.stderrText == "err")
        let killed = try ChildProcess.run("/bin/sh", ["-c", "kill -9 $$"], timeout: .seconds(30))
        #expect(killed.termination == .init(status: SIGKILL, bySignal: true))
    }

    @Test func drainsLargeOutputOnBothPipesWithoutBlocking() throws {
        // far more than a pipe holds (64 KiB) on each stream, the larger one written first
        let run = try ChildProcess.run("/bin/sh", ["-c", "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2"], timeout: .seconds(60))
        #expect(run.stdout.count == 3_000_000 && run.stderr.count == 2_000_000)
        #expect(run.termination.status == 0)
    }

    @Test func passesEnvironmentAndWorkingDirectory() throws {
        let folder = NSTemporaryDirectory() + "fs-child-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try ChildProcess.run("/bin/sh", ["-c", "echo \"$FS_PROBE\"; pwd"], environment: ["FS_PROBE": "seen"],
                                       workingDirectory: folder, timeout: .seconds(30))
        let resolved = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        #expect(run.stdoutText == "seen\n\(resolved)\n")
    }

    @Test func killsAChildPastItsDeadline() throws {
        let start = ContinuousClock.now
        #expect(throws: ChildProcess.Failure.timedOut(argv: ["/bin/sleep", "30"], timeout: .milliseconds(300))) {
            _ = try ChildProcess.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        }
        // SIGTERM ends sleep at once; the bound only guards against waiting for the full 30 s
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func namesAMissingProgram() {
        #expect(throws: ChildProcess.Failure.cannotStart(argv: ["/nonexistent/fs-tool"], code: ENOENT)) {
            _ = try ChildProcess.run("/nonexistent/fs-tool", [], timeout: .seconds(5))
        }
        #expect("\(ChildProcess.Failure.cannotStart(argv: ["/nonexistent/fs-tool"], code: ENOENT))".contains("/nonexistent/fs-tool"))
    }

    @Test func aLongRunningChildIsWaitedForAndTerminated() throws {
        let log = NSTemporaryDirectory() + "fs-child-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess("/bin/sh", ["-c", "echo started; exec sleep 30"], outputFile: log)
        #expect(child.wait(timeout: .milliseconds(200)) == nil && child.isRunning)
        #expect(child.terminate() == .init(status: SIGTERM, bySignal: true))
        #expect(!child.isRunning)
        #expect((try? String(contentsOfFile: log, encoding: .utf8)) == "started\n")
        let quick = try ChildProcess("/bin/sh", ["-c", "exit 7"])
        #expect(quick.wait(timeout: .seconds(30)) == .init(status: 7, bySignal: false))
    }

    /// With `lo` down Foundation's `Process` could not start clang ("Could not create wakeup socket
    /// pair for CFSocket") and the cache-miss compile hung. The compile runs on its own thread so a hang fails the test at the deadline.
    @Test func compilesOnACacheMissInANamespaceWhoseLoopbackIsDown() throws {
        try requireRoot()
        let namespace = try NetworkNamespace(prefix: "fslo")
        defer { try? namespace.destroy() }
        // the testbed brings lo up in its namespaces; down is how `ip netns add` leaves a new one
        try namespace.exec(["ip", "link", "set", "lo", "down"]).check()
        let links = try namespace.exec(["ip", "-o", "link", "show", "lo"]).check().stdout
        #expect(links.contains("state DOWN"), "lo should be down: \(links)")
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<CompiledObject, any Error>?>(nil)
        Thread {
            let result = Result { try namespace.run { try ClangCompiler(cacheDirectory: cache).compile(KernelFixture.counterSource(), version: "fs-lo") } }
            outcome.withLock { $0 = result }
            finished.signal()
        }.start()
        #expect(finished.wait(timeout: .now() + 180) == .success, "the compile inside the namespace did not finish in 180 s")
        let object = try #require(try outcome.withLock { $0 }?.get())
        #expect(!object.cacheHit && FileManager.default.fileExists(atPath: object.objectPath))
    }
}
