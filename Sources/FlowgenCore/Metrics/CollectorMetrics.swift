import Foundation
import Synchronization

/// The collector's own numbers for operators, updated by the collector loop and read by the
/// metrics endpoint from another thread (hence the lock; every update is a few assignments).
public final class CollectorMetrics: Sendable {
    /// A consistent copy of every value.
    public struct Snapshot: Sendable, Equatable {
        /// Biflows still active after the latest pass.
        public var flowsActive: Int = 0
        /// Directions in the kernel table when the latest pass began.
        public var tableEntries: Int = 0
        /// The table's capacity in directions (`--max-flows`).
        public var tableCapacity: Int = 0
        /// Biflows exported since the collector started.
        public var flowsExported: UInt64 = 0
        /// Biflows exported early, with end reason "lack of resources", because the table passed its high-water mark.
        public var flowsEvicted: UInt64 = 0
        /// Passes that failed to export (the exporter or the map read threw).
        public var exportErrors: UInt64 = 0
        /// Biflows that ended but were given up because the output kept failing.
        public var flowsLost: UInt64 = 0
        /// Biflows a database output (ClickHouse) gave up (spool full, batch refused again and again).
        public var sinkFlowsLost: UInt64 = 0
        /// Biflows a database output keeps in its spool on disk until the server takes them.
        public var sinkFlowsSpooled: Int = 0
        /// Rows a database output inserted.
        public var sinkRowsInserted: UInt64 = 0
        /// Biflows whose export failed, kept (out of the table) to be written again at the next pass.
        public var flowsPending: Int = 0
        /// Collector passes done.
        public var passes: UInt64 = 0
        /// Sum of pass durations in seconds.
        public var pollSecondsTotal: Double = 0
        /// Duration of the latest pass in seconds.
        public var lastPollSeconds: Double = 0
        /// Interfaces (not hooks) currently attached.
        public var interfacesAttached: Int = 0
        /// Kernel counters summed over CPUs.
        public var kernelCounters: [KernelCounter: UInt64] = [:]
        /// Unix time the collector started.
        public var startTime: Double = Date().timeIntervalSince1970

        /// Creates an empty snapshot.
        public init() {}
    }

    private let state = Mutex(Snapshot())

    /// Creates metrics with everything at zero.
    public init() {}

    /// The current values.
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    /// Applies `change` atomically.
    public func update(_ change: (inout Snapshot) -> Void) { state.withLock { change(&$0) } }

    /// The values as Prometheus text exposition format (version 0.0.4).
    public func prometheusText() -> String {
        PrometheusText.render(snapshot())
    }
}
