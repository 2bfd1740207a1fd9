import FlowgenCore
import Logging

/// Logs repeated failures without flooding the log: the first of each kind at once, then a count
/// at most every `interval` seconds ("... (and 12 more since the last report)").
struct IPFIXFailureReporter {
    let prefix: String
    let interval: Double
    let log: Logger
    private var lastLogged: [String: Double] = [:]
    private var suppressed: [String: Int] = [:]

    init(prefix: String, interval: Double = 10, log: Logger) {
        self.prefix = prefix
        self.interval = interval
        self.log = log
    }

    /// Reports one failure of kind `what` at monotonic time `now`.
    mutating func failure(_ what: String, detail: String, now: Double) {
        if now - (lastLogged[what] ?? -.infinity) >= interval {
            let n = suppressed[what] ?? 0
            log.warning("\(prefix): \(what): \(detail)\(n > 0 ? " (and \(n) more since the last report)" : "")")
            lastLogged[what] = now
            suppressed[what] = 0
        } else {
            suppressed[what, default: 0] += 1
        }
    }

    /// Logs an event that is not a failure (connected again), which ends every run of failures.
    mutating func event(_ message: String) {
        let n = suppressed.values.reduce(0, +)
        log.warning("\(prefix): \(message)\(n > 0 ? " (after \(n) more failures)" : "")")
        suppressed.removeAll()
        lastLogged.removeAll()
    }
}
