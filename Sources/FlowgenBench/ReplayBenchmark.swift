import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

// ---------------------------------------------------------------------------------------------
// REPLAY SECTION — depends on `flowgen replay`, which another developer is writing.
// It runs only when `flowgen replay --help` succeeds; until then the report says "not available".
// The capture's file argument is found from the command's own usage line, so the section should
// need no change when the command lands; check `command` in the report the first time it runs.
// ---------------------------------------------------------------------------------------------

/// Section 5: `flowgen replay` on a synthetic capture against nfpcapd (and softflowd, argus when
/// installed) on the same file, and against the floor of kernel replay: one BPF_PROG_TEST_RUN call
/// of the return-only program per packet, on as many cores as flowgen replay kept busy.
public final class ReplayBenchmark {
    let context: BenchContext

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// Runs the section, or reports why it cannot.
    public func run() throws -> ReplayBenchResult {
        let options = context.options
        var result = ReplayBenchResult(available: false, reason: nil, packets: options.replayPackets, flows: options.replayFlows,
                                       tools: [], missingTools: [])
        guard let executable = options.flowgenExecutable else {
            result.reason = "no flowgen binary given"
            return result
        }
        let help = try ProcessRunner.run([executable, "replay", "--help"])
        // An unknown subcommand's --help falls back to the top-level help and still exits 0, so the
        // usage line must name the replay command itself.
        guard help.succeeded, (help.stdout + help.stderr).lowercased().contains("flowgen replay") else {
            result.reason = "`flowgen replay --help` failed: the replay command is not in this build"
            return result
        }
        result.available = true

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flowgen-bench-replay-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let capture = scratch + "/capture.pcap"
        context.log("replay: writing a capture of \(options.replayPackets) packets, \(options.replayFlows) flows")
        try SyntheticCapture(packets: options.replayPackets, flows: options.replayFlows).write(to: capture)

        let repetitions = options.quick ? 1 : 3
        let replay = Self.replayArguments(executable, help: help.stdout + help.stderr, capture: capture)
        // the kernel engine (one test run per packet) by name: native is the default where --engine exists
        let hasEngines = (help.stdout + help.stderr).contains("--engine")
        var commands: [(String, [String], String?)] = [("flowgen replay", replay + (hasEngines ? ["--engine", "kernel"] : []), nil)]
        // the native engine (the same generated C built for this machine), when this build has it
        if hasEngines {
            commands.append((ReplayBenchResult.nativeName, replay + ["--engine", "native"], nil))
            // nfstream's statistical features against nfstream itself (issue 16), when its venv exists
            commands.append((ReplayBenchResult.nfstreamFeaturesName, replay + ["--engine", "native", "--features", "nfstream"], nil))
        }
        let root = (options.resources.templates as NSString).deletingLastPathComponent
        let nfstreamPython = root + "/.build/nfstream-venv/bin/python"
        if FileManager.default.isExecutableFile(atPath: nfstreamPython) {
            commands.append((ReplayBenchResult.nfstreamName, [nfstreamPython, root + "/scripts/nfstream-flows.py", capture, "--splt", "10", "--count"], nil))
        } else {
            result.missingTools.append(ReplayBenchResult.nfstreamName + " (scripts/nfstream-venv.sh)")
        }
        for (tool, argv, outputDirectory) in [
            ("nfpcapd", ["nfpcapd", "-r", capture, "-w", scratch + "/nfpcapd"], scratch + "/nfpcapd"),
            ("softflowd", ["softflowd", "-r", capture, "-n", "127.0.0.1:9"], nil),
            ("argus", ["argus", "-r", capture, "-w", scratch + "/argus.out"], nil),
        ] {
            if (try? ProcessRunner.locate(tool)) == nil {
                result.missingTools.append(tool)
                continue
            }
            commands.append((tool, argv, outputDirectory))
        }
        for (name, argv, directory) in commands {
            var seconds: [Double] = [], cores: [Double] = []
            for i in 0..<repetitions {
                context.log("replay: \(name) \(i + 1)/\(repetitions)")
                if let directory {
                    try? FileManager.default.removeItem(atPath: directory)
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                }
                let cpuBefore = Self.childrenCPUSeconds()
                let t = Date()
                // output to /dev/null for every tool: nfstream's script prints a count, and collecting
                // flowgen's JSON lines (79 MB with --features nfstream) through a pipe into this process
                // timed the bench's own reading along with flowgen
                try ProcessRunner.run(argv, timeout: .seconds(600), discardingStandardOutput: true).check()
                let wall = Date().timeIntervalSince(t)
                seconds.append(wall)
                cores.append((Self.childrenCPUSeconds() - cpuBefore) / Swift.max(wall, 1e-9))
            }
            // Paths of this run mean nothing in a report: the capture is FILE, scratch output DIR.
            let shown = argv.enumerated().map { index, word in
                word == capture ? "FILE" : word.hasPrefix(scratch) ? "DIR" : index == 0 ? (word as NSString).lastPathComponent : word
            }
            result.tools.append(.init(name: name, command: shown.joined(separator: " "),
                                      seconds: BenchSamples(seconds), coresUsed: BenchSamples(cores).median))
        }

        // The floor: the wall time of one test-run call, the least any kernel replay pays per packet.
        let floor = try context.floors.returnOnly()
        let frame = BenchTraffic.ipv4TCP.frame
        let calls = options.quick ? 20_000 : 100_000
        let t = Date()
        for _ in 0..<calls { _ = try floor.testRun.run(frame) }
        let perCall = Date().timeIntervalSince(t) / Double(calls)
        result.testRunCallMicroseconds = perCall * 1e6
        let cores = Swift.max(1.0, (result.flowgen?.coresUsed ?? 1).rounded())
        result.floorSeconds = perCall * Double(options.replayPackets) / cores
        return result
    }

    /// `flowgen replay` with the capture where its usage line wants it: a positional argument, or
    /// the value of a `-r`/`--read`/`--input`/`--pcap` option; output (stdout) goes to /dev/null.
    static func replayArguments(_ executable: String, help: String, capture: String) -> [String] {
        let usage = help.split(separator: "\n").first { $0.uppercased().contains("USAGE") }.map(String.init) ?? ""
        let tokens = Set(usage.split(whereSeparator: { " []|".contains($0) }).map(String.init))
        for option in ["--read", "--input", "--pcap", "-r"] where tokens.contains(option) {
            return [executable, "replay", option, capture]
        }
        return [executable, "replay", capture]
    }

    /// CPU seconds (user + system) of reaped children so far.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
