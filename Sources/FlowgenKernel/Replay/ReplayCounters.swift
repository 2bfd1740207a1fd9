/// What one worker did with the packets it owns (summed over workers for the statistics).
struct ReplayCounters: Sendable {
    /// Packets this worker owns (each packet of the captures is owned by exactly one worker).
    var owned: UInt64 = 0
    /// Packets run through the program.
    var run: UInt64 = 0
    /// Packets whose link header names no IP protocol (not run).
    var notIP: UInt64 = 0
    /// Packets shorter than the kernel's test run accepts (not run).
    var truncated: UInt64 = 0
    /// Packets the kernel refused anyway (EINVAL and the like).
    var refused: UInt64 = 0
    /// Packets cut to the test-run maximum before running (counted from their IP header as usual).
    var clipped: UInt64 = 0

    static func + (a: ReplayCounters, b: ReplayCounters) -> ReplayCounters {
        ReplayCounters(owned: a.owned + b.owned, run: a.run + b.run, notIP: a.notIP + b.notIP,
                       truncated: a.truncated + b.truncated, refused: a.refused + b.refused, clipped: a.clipped + b.clipped)
    }
}
