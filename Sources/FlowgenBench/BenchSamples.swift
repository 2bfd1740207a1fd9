import FlowgenKernel
import FlowgenTestSupport
/// Repeated measurements of one quantity; the benchmark reports the median, because single runs
/// on a shared two-core machine are noisy and the median ignores the odd interrupted run.
public struct BenchSamples: Codable, Sendable, Equatable {
    /// Every measured value, in the order taken.
    public var values: [Double]

    /// Wraps measured values.
    public init(_ values: [Double]) {
        self.values = values
    }

    /// The median (mean of the two middle values for an even count); 0 when empty.
    public var median: Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The smallest value; 0 when empty.
    public var min: Double { values.min() ?? 0 }

    /// The largest value; 0 when empty.
    public var max: Double { values.max() ?? 0 }

    /// Spread as (max - min) / median, to show how noisy a figure was.
    public var spread: Double { median > 0 ? (max - min) / median : 0 }
}
