import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// Everything one `flowgen bench` run measured: the machine, each section's figures, failures and
/// every missed target.
public struct BenchReport: Codable, Sendable {
    /// Where it ran.
    public var machine: BenchMachine
    /// "full" or "quick".
    public var profile: String
    /// Sections that ran.
    public var sections: [BenchSection]
    /// Section 1.
    public var kernel: KernelBenchResult?
    /// Section 1, stages and tail calls.
    public var stages: StageBenchResult?
    /// Section 2.
    public var e2e: EndToEndResult?
    /// Section 3.
    public var collector: CollectorBenchResult?
    /// Section 4.
    public var build: BuildBenchResult?
    /// Section 5.
    public var replay: ReplayBenchResult?
    /// Section 6.
    public var clickhouse: ClickHouseBenchResult?
    /// Sections that failed, with the error.
    public var errors: [String: String] = [:]
    /// Wall seconds of the whole run.
    public var seconds: Double = 0

    /// Every missed (or unchecked) target of the sections that ran.
    public var misses: [String] {
        (kernel?.misses ?? []) + (e2e?.misses ?? []) + (collector?.misses ?? []) + (build?.misses ?? []) + (replay?.misses ?? [])
            + (clickhouse?.misses(collector: collector) ?? [])
    }

    /// The report as text: machine, each section's table, failures, then the missed targets.
    public func render() -> String {
        var out = "flowgen bench (\(profile)) on \(machine.cpu), \(machine.cpus) CPUs, Linux \(machine.kernel), \(machine.date)\n"
        if machine.build == "debug" {
            out += "WARNING: this flowgen is a debug build: collector, build and replay figures are not representative; use `swift build -c release`\n"
        }
        out += "\n"
        if let kernel { out += kernel.render() + (ModuleOverBase(kernel: kernel)?.render() ?? "") }
        if let stages { out += stages.render() + "\n" }
        if let e2e { out += e2e.render() + "\n" }
        if let collector { out += collector.render() + "\n" }
        if let build { out += build.render() + "\n" }
        if let replay { out += replay.render() + "\n" }
        if let clickhouse { out += clickhouse.render(collector: collector) + "\n" }
        for (section, error) in errors.sorted(by: { $0.key < $1.key }) {
            out += "!! \(section) section FAILED: \(error)\n"
        }
        let misses = self.misses
        out += misses.isEmpty ? "All targets met.\n" : "MISSED TARGETS (\(misses.count)):\n" + misses.map { "  MISS " + $0 }.joined(separator: "\n") + "\n"
        out += String(format: "(%.0f s)\n", seconds)
        return out
    }

    /// The report as JSON, with every sample and the missed targets.
    public func json() throws -> Data {
        struct Document: Encodable {
            let report: BenchReport
            let misses: [String]
            /// the kernel section's per-module figures over base (derived from its samples)
            let modulesOverBase: ModuleOverBase?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(Document(report: self, misses: misses, modulesOverBase: kernel.flatMap(ModuleOverBase.init(kernel:))))
    }
}
