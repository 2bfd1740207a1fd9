import Foundation

/// The kernel's clocks as userland reads them: `bpf_ktime_get_ns()` is CLOCK_MONOTONIC.
public enum MonotonicClock {
    /// CLOCK_MONOTONIC in ns, the time base of live flow records.
    public static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CLOCK_REALTIME − CLOCK_MONOTONIC in ns: add it to a record's timestamp to get Unix time.
    /// Read fresh at every export so clock steps (NTP) are followed.
    public static func epochOffsetNs() -> Int64 {
        var mono = timespec(), real = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &real)
        let m = Int64(mono.tv_sec) * 1_000_000_000 + Int64(mono.tv_nsec)
        let r = Int64(real.tv_sec) * 1_000_000_000 + Int64(real.tv_nsec)
        return r - m
    }
}
