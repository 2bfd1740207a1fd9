import Logging
import Foundation
import FlowgenCore

/// The collector loop of `run` and `collect`: exports ended flows every interval, evicts the
/// idlest flows early when the table passes its high-water mark, follows interfaces that appear
/// and vanish, keeps the metrics current, and never dies of a failed pass (it is counted, logged
/// and retried next interval).
public final class CollectorService {
    /// What to do with the instance when stopped.
    public enum StopAction: Sendable {
        /// Detach, export every flow (end reason "forced"), unpin and forget the instance (`run`).
        case removeInstance
        /// Export the flows that ended and leave the rest, the filters and the pins to the next
        /// collector (`collect`); when nothing is attached any more, every flow is exported.
        case leaveInstance
    }

    /// Timing and limits.
    public struct Options: Sendable {
        /// Seconds between passes; 0 exports once, at stop.
        public var interval: Double
        /// Stop by itself after this many seconds.
        public var duration: Double?
        /// Timeouts.
        public var policy: ExpiryPolicy
        /// Fraction of the table's capacity above which the idlest flows are evicted (1 disables).
        public var highWater: Double
        /// Fraction the eviction brings the table down to.
        public var lowWater: Double
        /// Seconds between checks for interfaces that appeared or vanished.
        public var rescanInterval: Double
        /// What to do at stop.
        public var onStop: StopAction

        /// Creates options; eviction starts at 90% and brings the table down to 80%.
        public init(interval: Double, duration: Double? = nil, policy: ExpiryPolicy = ExpiryPolicy(),
                    highWater: Double = 0.9, lowWater: Double? = nil, rescanInterval: Double = 1,
                    onStop: StopAction = .removeInstance) {
            self.interval = interval
            self.duration = duration
            self.policy = policy
            self.highWater = highWater
            self.lowWater = lowWater ?? max(0, highWater - 0.1)
            self.rescanInterval = rescanInterval
            self.onStop = onStop
        }

        /// The high- and low-water marks in directions for a table of `capacity` (high `Int.max`: no eviction).
        public func marks(capacity: Int) -> (high: Int, low: Int) {
            (highWater < 1 ? Int(Double(capacity) * highWater) : Int.max, Int(Double(capacity) * lowWater))
        }
    }

    /// What the run did.
    public struct Summary: Sendable, Equatable {
        /// Biflows exported in all.
        public var exported: UInt64
        /// Biflows exported early for lack of room.
        public var evicted: UInt64
        /// Passes that failed.
        public var failedPasses: UInt64
        /// Biflows that ended but could not be exported and were given up (the output kept failing).
        public var lost: UInt64 = 0
    }

    /// The instance collected from.
    public let instance: MonitorInstance
    /// The collector draining its table.
    public let collector: FlowCollector
    /// Options in force.
    public let options: Options
    /// Operator metrics (also served by `--metrics`).
    public let metrics: CollectorMetrics
    private let log: Logger
    private var evicted: UInt64 = 0
    /// Room kept for the directions that arrive between passes (lowers the marks under a high insert rate).
    private var reserve = InsertReserve()
    private var failedPasses: UInt64 = 0
    private var lastFailure: String?

    /// Creates the service; nothing runs until `run(until:)`.
    public init(instance: MonitorInstance, exporter: FlowExporter, options: Options, metrics: CollectorMetrics = CollectorMetrics(),
                log: Logger = .silent) {
        self.instance = instance
        self.options = options
        self.metrics = metrics
        self.log = log
        collector = FlowCollector(plan: instance.maps.plan, source: TableFlowSource(table: instance.maps.flowTable),
                                  exporter: exporter, policy: options.policy)
        collector.kernelEnding = instance.maps.kernelPass
        collector.resumeNumbering(after: instance.state.lastFlowID)
        let capacity = instance.maps.capacity
        let counters = instance.maps.counters
        metrics.update {
            $0.tableCapacity = capacity
            $0.interfacesAttached = instance.attachedInterfaces.count
            $0.kernelCounters = (try? counters.kernelCounters()) ?? [:]
        }
    }

    /// Runs passes until `stop` is set or the duration ends, then ends as `options.onStop` says.
    @discardableResult
    public func run(until stop: StopSignal) throws -> Summary {
        let started = Date()
        let deadline = options.duration.map { started.addingTimeInterval($0) }
        var nextPass = options.interval > 0 ? started.addingTimeInterval(options.interval) : Date.distantFuture
        var nextScan = started.addingTimeInterval(options.rescanInterval)
        while !stop.isSet {
            let wake = [nextPass, nextScan, deadline ?? .distantFuture].min()!
            if stop.sleep(seconds: max(0, wake.timeIntervalSinceNow)) { break }
            let now = Date()
            if let deadline, now >= deadline { break }
            if now >= nextScan {
                scanInterfaces()
                nextScan = Date().addingTimeInterval(options.rescanInterval)
            }
            if now >= nextPass {
                pass()
                nextPass = Date().addingTimeInterval(options.interval)
            }
        }
        try finish()
        return Summary(exported: collector.exportedTotal, evicted: evicted, failedPasses: failedPasses, lost: collector.lostTotal)
    }

    /// One collector pass; failures are counted and logged (once per distinct message), not thrown.
    public func pass() {
        let t0 = Date()
        let capacity = instance.maps.capacity
        let configured = options.marks(capacity: capacity)
        let (high, low) = reserve.marks(high: configured.high, low: configured.low, capacity: capacity)
        do {
            let result = try collector.poll(now: MonotonicClock.nowNs(), highWater: high, lowWater: low)
            let seconds = Date().timeIntervalSince(t0)
            evicted += UInt64(result.evicted)
            if result.evicted > 0 {
                let room = high < configured.high ? " (\(high) directions: \(reserve.reserve) kept free for the new ones that arrive between passes)" : ""
                log.info("table above \(Int(options.highWater * 100))% of \(capacity)\(room): exported the \(result.evicted) idlest flows early (lack of resources)")
            }
            reserve.note(entries: result.poll.entries, left: result.left)
            if result.poll.exported > 0 { instance.recordLastFlowID(collector.nextFlowID - 1) }
            if let kernel = collector.lastKernelReport {
                log.debug("pass: \(result.poll.entries) directions, \(result.poll.exported) flows exported (\(kernel.successorDirections) successor directions), \(result.poll.active) directions active, \(Int(seconds * 1000)) ms")
            } else {
                log.debug("pass: \(result.poll.entries) directions, \(result.poll.exported) flows exported, \(result.poll.active) active, \(Int(seconds * 1000)) ms")
            }
            lastFailure = nil
            let exported = collector.exportedTotal, evicted = self.evicted, lost = collector.lostTotal
            let counters = (try? instance.maps.counters.kernelCounters()) ?? [:]
            metrics.update {
                $0.passes += 1
                $0.lastPollSeconds = seconds
                $0.pollSecondsTotal += seconds
                $0.flowsActive = result.poll.active
                $0.tableEntries = result.poll.entries
                $0.flowsExported = exported
                $0.flowsEvicted = evicted
                $0.flowsLost = lost
                $0.flowsPending = 0
                $0.kernelCounters = counters
            }
        } catch {
            failedPasses += 1
            let message = "\(error)"
            if message != lastFailure { log.error("error: collector pass failed (retried next interval): \(message)") }
            lastFailure = message
            let seconds = Date().timeIntervalSince(t0)
            let lost = collector.lostTotal, pending = collector.pendingCount
            metrics.update {
                $0.flowsLost = lost
                $0.flowsPending = pending
                $0.exportErrors += 1
                $0.passes += 1
                $0.lastPollSeconds = seconds
                $0.pollSecondsTotal += seconds
            }
        }
    }

    private func scanInterfaces() {
        do {
            try instance.syncInterfaces(strict: false)
        } catch {
            log.warning("warning: checking interfaces failed: \(error)")
        }
        let count = instance.attachedInterfaces.count
        // counters stay fresh for --metrics even with --interval 0 (no passes until stop)
        let counters = try? instance.maps.counters.kernelCounters()
        metrics.update {
            $0.interfacesAttached = count
            if let counters { $0.kernelCounters = counters }
        }
    }

    /// Attempts at the final flush when the output fails, and the pause between them.
    static let flushAttempts = 3
    static let flushRetryPause = 0.5

    /// The final flush, tried again a few times when the output fails (flows of a failed batch are
    /// kept and go first in the next attempt); returns the flows exported, or the last error.
    private func flushRetrying() -> Result<Int, any Error> {
        let before = collector.exportedTotal
        var failure: (any Error)?
        for attempt in 0..<Self.flushAttempts {
            if attempt > 0 { Thread.sleep(forTimeInterval: Self.flushRetryPause) }
            do {
                try collector.flushAll(reason: .forced)
                return .success(Int(collector.exportedTotal - before))
            } catch {
                if failure == nil || "\(error)" != "\(failure!)" { log.error("error: exporting the remaining flows failed: \(error)") }
                failure = error
            }
        }
        return .failure(failure!)
    }

    /// Ends the run as `options.onStop` says. A failing output does not throw: what could not be
    /// written is counted as lost (and logged), so the summary says exactly what was exported.
    private func finish() throws {
        switch options.onStop {
        case .removeInstance:
            // detach first: a packet counted after the final read would be lost
            instance.detachAll()
            switch flushRetrying() {
            case let .success(n):
                log.info("stopped: exported \(n) remaining flows, \(collector.exportedTotal) in all")
            case .failure:
                if instance.state.pinned {
                    let lost = collector.abandonPending()
                    instance.release()
                    log.error("error: \(lost) flows of the failed batch are lost; the other remaining flows stay in the pinned table of instance \(instance.paths.name): export them with `flowgen collect --instance \(instance.paths.name)` once the output works")
                    return
                }
                let lost = (try? collector.abandonAll()) ?? collector.abandonPending()
                log.error("error: \(lost) remaining flows could not be written and are lost")
            }
            instance.removeFromKernel()
        case .leaveInstance:
            _ = try? instance.syncInterfaces(strict: false)
            if instance.state.attachments.isEmpty {
                let n = try collector.flushAll(reason: .forced)
                log.info("stopped: nothing is attached any more, so every flow was exported (\(n) remaining, \(collector.exportedTotal) in all)")
            } else {
                pass()
                log.info("stopped: \(collector.exportedTotal) flows exported in all; active flows stay in the table for the next collector")
            }
            let lost = collector.abandonPending()
            if lost > 0 { log.error("error: \(lost) ended flows could not be written and are lost (they had left the table)") }
            instance.recordLastFlowID(collector.nextFlowID - 1)
            instance.release()
        }
    }
}
