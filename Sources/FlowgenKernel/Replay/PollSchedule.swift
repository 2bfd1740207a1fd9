/// When the collector passes run in capture time: before the first packet at or after each
/// `interval` boundary (so a gap of a minute in the capture is one pass, at the packet after it,
/// with `now` = that packet's time: flows idle for longer than the timeout end before it joins them).
/// A pure function of the packet sequence, so every worker reaches the same decisions. The workers
/// then skip a due pass when `ReplaySession.quietUntil` shows it would end no flow.
struct PollSchedule: Sendable {
    let interval: UInt64
    private var next: UInt64?

    init(interval: UInt64) {
        self.interval = max(1, interval)
    }

    /// Whether a pass is due before a packet stamped `t`; advances the schedule when it is.
    @inline(__always)
    mutating func due(_ t: UInt64) -> Bool {
        guard let n = next else {
            next = boundary(after: t)
            return false
        }
        guard t >= n else { return false }
        next = boundary(after: t)
        return true
    }

    private func boundary(after t: UInt64) -> UInt64 {
        let (sum, overflow) = (t - t % interval).addingReportingOverflow(interval)
        return overflow ? .max : sum
    }
}
