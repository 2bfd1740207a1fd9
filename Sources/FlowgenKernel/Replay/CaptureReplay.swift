import Logging
import Foundation
import FlowgenCore

/// Replays capture files through a monitor loaded in replay mode (`LoadedMonitor(replay: true)`):
/// every packet runs through the generated, verified program with `BPF_PROG_TEST_RUN`, stamped with
/// its capture time; the collector passes run in capture time; at the end every remaining flow is
/// exported with end reason "end of capture". The same capture gives the same flows every time.
/// With a `NativeMonitor` the same generated C runs as a function call on one thread, and
/// everything else (framing, passes, collector, order of export) is this same code.
///
/// The files are one capture, in the order given (flows continue from one file into the next).
/// A file that cannot be read to its end (damaged, cut short, unsupported link type) keeps the
/// packets read before the damage and the replay goes on with the next file; its error is in the
/// statistics. Packets run on `options.workers` threads, each flow on one of them.
public final class CaptureReplay {
    /// The program and maps, in the kernel or native.
    public let program: ReplayProgram
    /// Timeouts, threads, pass spacing.
    public let options: ReplayOptions
    /// The collector draining the flow table in capture time.
    public let collector: FlowCollector
    let source: ReplayFlowSource
    /// Run a pass at every boundary over the whole table (tests compare the optimised schedule with it).
    var plainPasses = false {
        didSet { source.presentsEveryEntry = plainPasses }
    }
    private let queue: ReplayExportQueue
    private let log: Logger

    /// Creates a replay through a kernel monitor; flows go to `exporter` (timestamps are capture
    /// time: use an epoch offset of 0).
    public convenience init(monitor: LoadedMonitor, exporter: FlowExporter, options: ReplayOptions = ReplayOptions(),
                            log: Logger = .silent) throws {
        try self.init(program: .kernel(monitor), exporter: exporter, options: options, log: log)
    }

    /// Creates a replay through `program` (kernel or native); flows go to `exporter`.
    public init(program: ReplayProgram, exporter: FlowExporter, options: ReplayOptions = ReplayOptions(),
                log: Logger = .silent) throws {
        self.program = program
        self.options = options
        self.log = log
        let plan = program.plan
        let decoder = RecordDecoder(plan: plan)
        source = ReplayFlowSource(table: try program.table(), decoder: decoder, policy: options.policy)
        queue = ReplayExportQueue(inner: exporter)
        let ordered = ReplayOrderedExporter(inner: queue, decoder: decoder)
        collector = FlowCollector(plan: plan, source: source, exporter: ordered, policy: options.policy)
        collector.ordersEndedFlows = true
    }

    deinit { queue.stop() }

    /// Whether `path` is a regular file (or missing, which fails the same for every worker).
    static func canBeReadTwice(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Replays `files` and exports every flow. Throws only when the replay as a whole fails (the
    /// kernel refuses test runs, the flow table cannot be read); per-file errors are in the result.
    public func run(files: [String]) throws -> ReplayStatistics {
        guard !files.isEmpty else { throw ReplayError.noFiles }
        defer { try? queue.drain() } // whatever was exported before a failure is still written
        let started = MonotonicClock.nowNs()
        // every worker reads the files itself: a pipe or terminal can be read only once, so one worker reads it
        let count = files.allSatisfy(Self.canBeReadTwice) ? program.workers(max(1, options.workers)) : 1
        let tunnels = program.plan.defines.contains("FG_WITH_TUNNEL")
        let workers = (0..<count).map { ReplayWorker(index: $0, workers: count, runner: program.runner(), tunnels: tunnels) }
        let barrier = ReplayBarrier(parties: count)
        let session = ReplaySession(files: files, collector: collector, source: source, plainPasses: plainPasses, log: log)
        let interval = options.pollIntervalNs

        let done = DispatchGroup()
        for worker in workers {
            done.enter()
            let thread = Thread {
                worker.run(session: session, interval: interval, barrier: barrier)
                done.leave()
            }
            thread.name = "flowgen-replay-\(worker.index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        done.wait()
        if let error = barrier.error { throw error }
        let workersDone = MonotonicClock.nowNs()
        log.debug("\(String(format: "packets run in %.3f s", Double(workersDone - started) / 1e9))")

        var statistics = session.statistics
        statistics.workers = count
        source.mode = .final
        let exportedAtEnd = try collector.flushAll(reason: .endOfCapture)
        let collected = MonotonicClock.nowNs()
        try queue.drain()
        let line = String(format: "end of capture: %d remaining flows collected in %.3f s, written %.3f s later", exportedAtEnd,
                   Double(collected - workersDone) / 1e9, Double(MonotonicClock.nowNs() - collected) / 1e9)
        log.debug("\(line)")
        let totals = workers.map(\.total).reduce(ReplayCounters(), +)
        statistics.packetsRead = totals.owned
        statistics.packetsRun = totals.run
        statistics.notIP = totals.notIP
        statistics.truncated = totals.truncated
        statistics.refused = totals.refused
        statistics.clipped = totals.clipped
        statistics.kernelCounters = try program.counters()
        statistics.flowsExported = collector.exportedTotal
        statistics.durationSeconds = Double(MonotonicClock.nowNs() - started) / 1e9
        return statistics
    }
}
