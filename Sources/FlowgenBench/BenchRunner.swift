import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// Runs the selected sections one after another and collects a `BenchReport`. A section that fails
/// is recorded in the report and the others still run: one broken part must not hide the rest.
public final class BenchRunner {
    /// The options in force.
    public let options: BenchOptions
    let log: (String) -> Void

    /// Creates a runner; `log` receives progress lines.
    public init(options: BenchOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    /// Runs the sections and returns the report.
    public func run() throws -> BenchReport {
        try Privileges.require()
        let started = Date()
        let context = try BenchContext(options: options, log: log)
        var report = BenchReport(machine: BenchMachine.current(compiler: options.compiler),
                                 profile: options.quick ? "quick" : "full", sections: options.sections)
        for section in BenchSection.allCases where options.sections.contains(section) {
            do {
                switch section {
                case .kernel:
                    report.kernel = try KernelBenchmark(context: context).run()
                    report.stages = try StageBenchmark(context: context).run()
                case .e2e: report.e2e = try EndToEndBenchmark(context: context).run()
                case .collector: report.collector = try CollectorBenchmark(context: context).run()
                case .build: report.build = try BuildBenchmark(context: context).run()
                case .replay: report.replay = try ReplayBenchmark(context: context).run()
                case .clickhouse: report.clickhouse = try ClickHouseBenchmark(context: context).run()
                }
            } catch {
                log("\(section.rawValue) section failed: \(error)")
                report.errors[section.rawValue] = "\(error)"
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
