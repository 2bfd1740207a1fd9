#if canImport(Glibc)
import Glibc
#endif

/// The two clocks an IPFIX transport reads: monotonic time for refresh and back-off decisions, and
/// Unix time for the message header's export time. Tests substitute their own.
public struct IPFIXClock: Sendable {
    /// Seconds on a clock that never steps.
    public var monotonicSeconds: @Sendable () -> Double
    /// Seconds since the Unix epoch (Export Time).
    public var unixSeconds: @Sendable () -> UInt32

    /// Creates a clock from two readers.
    public init(monotonicSeconds: @escaping @Sendable () -> Double, unixSeconds: @escaping @Sendable () -> UInt32) {
        self.monotonicSeconds = monotonicSeconds
        self.unixSeconds = unixSeconds
    }

    /// CLOCK_MONOTONIC and CLOCK_REALTIME.
    public static let system = IPFIXClock(
        monotonicSeconds: { Double(MonotonicClock.nowNs()) / 1e9 },
        unixSeconds: { UInt32(truncatingIfNeeded: time(nil)) })
}
