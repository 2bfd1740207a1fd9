import Foundation
import FlowgenCore

/// A loaded monitor attached to interfaces, with the collector loop that exports its flows.
/// Owns its attachments: whatever it attached it detaches, on stop or on error.
public final class LiveMonitor {
    /// What to attach and how to collect.
    public struct Options: Sendable {
        /// Interfaces to attach to.
        public var interfaces: [String]
        /// Directions on each interface.
        public var directions: [TCAttachment.Direction]
        /// Seconds between collector passes; 0 exports once, at stop.
        public var interval: Double
        /// Stop by itself after this many seconds (nil: until a signal).
        public var duration: Double?
        /// Timeouts.
        public var policy: ExpiryPolicy

        /// Creates options.
        public init(interfaces: [String], directions: [TCAttachment.Direction], interval: Double,
                    duration: Double? = nil, policy: ExpiryPolicy = ExpiryPolicy()) {
            self.interfaces = interfaces
            self.directions = directions
            self.interval = interval
            self.duration = duration
            self.policy = policy
        }
    }

    /// The loaded program and maps.
    public let monitor: LoadedMonitor
    /// Options in force.
    public let options: Options
    /// The collector draining the flow table.
    public let collector: FlowCollector
    private var attachments: [TCAttachment] = []
    private let log: (String) -> Void

    /// Creates a monitor; nothing is attached until `attach()`.
    public init(monitor: LoadedMonitor, options: Options, exporter: FlowExporter, log: @escaping (String) -> Void = { _ in }) throws {
        self.monitor = monitor
        self.options = options
        self.log = log
        let source = KernelFlowSource(table: try monitor.flowTable())
        self.collector = FlowCollector(plan: monitor.plan, source: source, exporter: exporter, policy: options.policy)
    }

    /// Attaches to every interface and direction; on any failure detaches what it attached and rethrows.
    public func attach() throws {
        do {
            for name in options.interfaces {
                for direction in options.directions {
                    attachments.append(try TCAttachment(interface: name, direction: direction, programFD: monitor.entryFD))
                }
                log("attached to \(name) (\(options.directions.map { "\($0)" }.joined(separator: "+")))")
            }
        } catch {
            detach()
            throw error
        }
    }

    /// Detaches everything this monitor attached (idempotent).
    public func detach() {
        for a in attachments.reversed() {
            do { try a.detach() } catch { log("warning: \(error)") }
        }
        attachments.removeAll()
    }

    /// Runs passes until `stop` is set or the duration ends, then exports every remaining flow
    /// (end reason "forced") and detaches.
    public func run(until stop: StopSignal) throws {
        defer { detach() }
        let started = Date()
        func timeLeft() -> Double? { options.duration.map { $0 - Date().timeIntervalSince(started) } }
        while !stop.isSet {
            let wait = options.interval > 0 ? options.interval : 3600
            let nap = min(wait, max(0, timeLeft() ?? wait))
            if stop.sleep(seconds: nap) { break }
            if let left = timeLeft(), left <= 0 { break }
            if options.interval > 0 {
                let t0 = Date()
                let r = try collector.poll(now: MonotonicClock.nowNs())
                log("pass: \(r.entries) directions, \(r.exported) flows exported, \(r.active) active, \(Int(Date().timeIntervalSince(t0) * 1000)) ms")
            }
        }
        detach()
        let n = try collector.flushAll(reason: .forced)
        log("stopped: exported \(n) remaining flows, \(collector.exportedTotal) in all")
    }
}

/// The kernel flow map as a collector source.
final class KernelFlowSource: FlowTableSource {
    let table: FlowTable

    init(table: FlowTable) { self.table = table }

    func forEachEntry(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let snapshot = try table.snapshot()
        let k = snapshot.keySize, v = snapshot.valueSize
        snapshot.keys.withUnsafeBytes { keys in
            snapshot.values.withUnsafeBytes { values in
                for i in 0..<snapshot.count {
                    body(UnsafeRawBufferPointer(rebasing: keys[i * k..<(i + 1) * k]),
                         UnsafeRawBufferPointer(rebasing: values[i * v..<(i + 1) * v]))
                }
            }
        }
    }

    func remove(key: [UInt8]) throws -> [UInt8]? {
        try table.lookupAndDelete(key)
    }
}
