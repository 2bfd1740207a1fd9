import Foundation
import FlowgenCore

/// How a capture is replayed: expiry timeouts (in capture time) and how many threads run packets.
public struct ReplayOptions: Sendable {
    /// Idle, active and end-of-flow timeouts, evaluated in capture time.
    public var policy: ExpiryPolicy
    /// Threads that run packets through the program (each flow stays on one of them).
    public var workers: Int
    /// Capture time between collector passes (ns): a pass runs before the first packet at or after each instant.
    public var pollIntervalNs: UInt64

    /// Default pass spacing: one second of capture time, as `run --interval 1` does in real time.
    public static let defaultPollIntervalNs: UInt64 = 1_000_000_000

    /// Creates options; `workers` defaults to the CPUs this process may run on.
    public init(policy: ExpiryPolicy = ExpiryPolicy(), workers: Int? = nil, pollIntervalNs: UInt64 = Self.defaultPollIntervalNs) {
        self.policy = policy
        self.workers = max(1, workers ?? Self.availableCPUs())
        self.pollIntervalNs = max(1, pollIntervalNs)
    }

    /// CPUs in this process's affinity mask (what `taskset` allows), at least 1.
    public static func availableCPUs() -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}
