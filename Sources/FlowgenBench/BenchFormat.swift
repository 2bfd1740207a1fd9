import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// How numbers appear in the benchmark's tables (the JSON keeps full precision).
enum BenchFormat {
    /// Nanoseconds with one decimal.
    static func ns(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A ratio such as "1.27x".
    static func ratio(_ value: Double) -> String { String(format: "%.2fx", value) }

    /// A fraction such as "0.93".
    static func fraction(_ value: Double) -> String { String(format: "%.3f", value) }

    /// A rate with an SI prefix: "1.52M", "870k".
    static func rate(_ value: Double) -> String {
        if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
        if value >= 1e3 { return String(format: "%.0fk", value / 1e3) }
        return String(format: "%.0f", value)
    }

    /// Milliseconds with one decimal.
    static func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }

    /// Seconds with three decimals.
    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    /// A target check: "ok", or "MISS" so a missed target stands out in any terminal.
    static func verdict(_ met: Bool?) -> String {
        switch met {
        case true?: return "ok"
        case false?: return "MISS"
        case nil: return ""
        }
    }
}
