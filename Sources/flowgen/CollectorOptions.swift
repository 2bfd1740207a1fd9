import ArgumentParser
import FlowgenCore
import FlowgenKernel

/// Options of the collector loop shared by `run` and `collect`: metrics endpoint and early eviction.
struct CollectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve Prometheus metrics over HTTP at ADDR:PORT (e.g. 127.0.0.1:9464); binds only there.", valueName: "addr:port"))
    var metrics: String?

    @Option(name: .customLong("high-water"), parsing: .unconditional, help: ArgumentHelp(
        "Percent of --max-flows above which the idlest flows are exported early (end reason \"lack of resources\") down to 10 points below; 100 disables.",
        valueName: "pct"))
    var highWater: Double = 90

    func validate() throws {
        guard highWater.isFinite, highWater >= 10, highWater <= 100 else {
            throw ValidationError("--high-water must be a percentage from 10 to 100, got \(CommandLineText.number(highWater))")
        }
        if let metrics {
            try CommandLineText.refuseControlCharacters([metrics], option: "--metrics")
            do { _ = try MetricsServer.parse(metrics) } catch { throw ValidationError("\(error)") }
        }
    }

    /// The metrics endpoint, bound now so a taken port fails before anything is attached.
    func makeServer(_ metrics: CollectorMetrics) throws -> MetricsServer? {
        guard let address = self.metrics else { return nil }
        return try MetricsServer(address: address) { metrics.prometheusText() }
    }
}
