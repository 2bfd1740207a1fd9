import ArgumentParser
import SystemPackage
import Foundation
import FlowgenCore
import FlowgenKernel

/// `flowgen replay`: run capture files through the generated program and export their biflows.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run pcap/pcapng captures through a monitor and export their biflows.",
        discussion: """
        Every packet runs through the same generated C as `run` uses, stamped with its capture time: \
        flow start/end are packet timestamps and the idle/active timeouts are evaluated in capture \
        time, so the same capture gives the same flows every time. The files are replayed in order as \
        one capture; at its end every remaining flow is exported with end reason "end of capture".

        Reads pcap (µs, ns) and pcapng captures of Ethernet, raw IP, Linux cooked (SLL, SLL2), BSD \
        loopback, PPP, Cisco HDLC, Frame Relay, SLIP, IEEE 802.11 (radiotap), ATM, ARCNET and IPoIB \
        links. A damaged file or one of another link type is reported in one line; the flows of the \
        packets before the damage and of the other files are still exported, and the exit status is \
        1.

        Engines: native (default) compiles the generated C for this machine and calls it once per \
        packet: no root, no BPF, a function call instead of a system call. kernel runs the verified \
        BPF program with one BPF_PROG_TEST_RUN per packet on every CPU (needs root, CAP_BPF) and \
        honours --max-stages/--stage-budget. Both give the same flows (tests compare them line by \
        line on 830 captures).

          flowgen replay trace.pcap                          JSON lines on stdout
          flowgen replay --engine kernel trace.pcap          the same, in the kernel
          flowgen replay --format csv a.pcapng b.pcap --stats-json stats.json
        """)

    @Argument(help: ArgumentHelp("Capture files (pcap or pcapng), replayed in order.", valueName: "file"))
    var files: [String] = []

    @Option(name: .customLong("stats-json"), help: ArgumentHelp(
        "Write the replay's statistics (packets read, run, not IP, truncated, kernel counters, flows, duration) as JSON to FILE.",
        valueName: "file"))
    var statsJSON: String?

    @Option(help: ArgumentHelp("Write progress and error messages to FILE instead of stderr.", valueName: "file"))
    var log: String?

    @Option(name: .customLong("threads"), parsing: .unconditional, help: ArgumentHelp(
        "With --engine kernel: threads running packets (default: the CPUs this process may run on); 1 takes new flows in capture order when the table is full.",
        valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp(
        "native (default): the generated C compiled for this machine (no root). kernel: the verified BPF program, one BPF_PROG_TEST_RUN per packet (needs root).",
        valueName: "engine"))
    var engine: ReplayEngine = .native

    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var expiryOptions: ExpiryOptions
    @OptionGroup var featureOptions: FeatureOptions
    @OptionGroup var planOptions: PlanOptions
    @OptionGroup var compilerOptions: CompilerOptions
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        if files.isEmpty { throw ValidationError("no capture file given: flowgen replay FILE [FILE...]") }
        try CommandLineText.refuseControlCharacters(files, option: "capture file")
        try CommandLineText.refuseControlCharacters([statsJSON], option: "--stats-json")
        try CommandLineText.refuseControlCharacters([log], option: "--log")
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
        if threads != nil && engine == .native { throw ValidationError("--threads applies to --engine kernel: the native engine runs on one thread") }
        if engine == .native && planOptions.stagePolicy != StagePolicy() {
            throw ValidationError("--max-stages and --stage-budget apply to --engine kernel: the native engine runs the plan as one program")
        }
    }

    func run() throws {
        let messages = try MessageLog(path: log, quiet: logOptions.quiet, verbose: logOptions.verbose)
        if engine == .kernel {
            do {
                try Privileges.require()
            } catch let error as KernelError {
                throw ValidationErrorText("\(error) (or replay with --engine native, which needs no privileges)")
            }
        }
        // A file that is not there is a typing error, caught before any build; a damaged one is
        // found while replaying and does not stop the other files.
        for file in files { try Self.checkReadable(file) }
        try outputOptions.checkDestination()
        if let statsJSON { try Self.checkWritable(statsJSON) }
        // A file that is no capture (or another link type) says so in its first bytes: reported
        // now, before any progress line; the other files are still replayed. When none is left,
        // nothing is built (or, for --stats-json, built and run without progress lines).
        let reported = Self.checkHeaders(files)
        if reported.count == files.count {
            guard statsJSON != nil else { throw ExitCode.failure }
            messages.quiet = true
        }

        let catalog = try featureOptions.catalog()
        let plan = try featureOptions.plan(in: catalog, maxFlows: planOptions.maxFlows)
        var builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir),
                                     stages: planOptions.stagePolicy)
        builder.verifierLogPath = featureOptions.verifierLog
        let program: ReplayProgram
        let features = plan.features.map(\.name).joined(separator: ",")
        switch engine {
        case .kernel:
            let monitor = try builder.load(replay: true, verbose: logOptions.verbose, log: messages.logger)
            messages.info("loaded \(monitor.plan.entryProgram) [\(features)]" + (monitor.object.cacheHit ? " (cached object)" : "") + " for replay")
            program = .kernel(monitor)
        case .native:
            let monitor = try builder.loadNative()
            messages.info("built \(plan.entryProgram) [\(features)] for this machine" + (monitor.object.cacheHit ? " (cached library)" : "")
                          + " for native replay")
            program = .native(monitor)
        }

        // capture timestamps are already Unix time
        let exporter = try outputOptions.makeExporter(plan: program.plan, epochOffsetNs: { 0 })
        let options = ReplayOptions(policy: expiryOptions.policy, workers: threads)
        let replay = try CaptureReplay(program: program, exporter: exporter, options: options, log: messages.logger)
        let statistics = try replay.run(files: files)
        try exporter.close()
        let failed = statistics.failedFiles
        for file in failed where !reported.contains(file.path) {
            // one line per file, on stderr even with --log or -q: the exit status says something failed
            Self.reportError(file.error ?? file.path)
        }

        if let statsJSON {
            do {
                try OutputFile.replace(statsJSON, with: Data(statistics.json().utf8))
            } catch {
                throw ValidationErrorText("cannot write --stats-json '\(statsJSON)': \(error)")
            }
        }
        let rate = Int(statistics.packetsPerSecond.rounded())
        messages.info("replayed \(statistics.packetsRead) packets from \(files.count) file(s) in "
                      + String(format: "%.3f", statistics.durationSeconds) + " s (\(rate) packets/s, \(statistics.workers) threads): "
                      + "\(statistics.flowsExported) flows exported")
        var notRun: [String] = []
        if statistics.notIP > 0 { notRun.append("\(statistics.notIP) not IP") }
        if statistics.truncated > 0 { notRun.append("\(statistics.truncated) truncated") }
        if statistics.refused > 0 { notRun.append("\(statistics.refused) refused by the kernel") }
        if !notRun.isEmpty { messages.info("packets not run: " + notRun.joined(separator: ", ")) }
        let counters = statistics.kernelCounters.filter { $0.value > 0 }
        if !counters.isEmpty {
            messages.info("kernel counters: " + counters.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.jsonName)=\($0.value)" }.joined(separator: " "))
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }

    /// Reads the header of every regular file among `paths` and reports (on stderr, like any
    /// error) those that are no capture flowgen reads; returns their paths. Pipes are left to the
    /// replay: what is read from them now would be missing then.
    static func checkHeaders(_ paths: [String]) -> Set<String> {
        var reported = Set<String>()
        for path in paths where !reported.contains(path) {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            do {
                try CaptureReader(path: path).close()
            } catch {
                reportError("\(error)")
                reported.insert(path)
            }
        }
        return reported
    }

    /// One error line on stderr, even with --log or -q, in the form of every other error.
    static func reportError(_ text: String) {
        FileHandle.standardError.write(Data("\(Flowgen._errorPrefix)\(text)\n".utf8))
    }

    /// Fails before the replay when a capture file is missing, unreadable or a directory.
    static func checkReadable(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationErrorText("cannot read capture file '\(path)': \(Errno(rawValue: errno).description)")
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw ValidationErrorText("'\(path)' is a directory, not a capture file: give the files in it (e.g. \(path)/*.pcap)")
        }
        guard access(path, R_OK) == 0 else {
            throw ValidationErrorText("cannot read capture file '\(path)': \(Errno(rawValue: errno).description)")
        }
    }

    /// Fails before the replay when the statistics file cannot be created where asked.
    static func checkWritable(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        guard access(dir.isEmpty ? "." : dir, W_OK | X_OK) == 0 else {
            throw ValidationErrorText("cannot write --stats-json '\(path)': its directory is missing or not writable")
        }
    }
}

extension ReplayEngine: ExpressibleByArgument {}
