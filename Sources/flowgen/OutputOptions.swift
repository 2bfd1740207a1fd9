import ArgumentParser
import FlowgenCore

/// How exported flows are written (shared by `run` and `replay`).
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output format: json (JSON lines), csv or text.", valueName: "fmt"))
    var format: FormatChoice = .json

    @Option(help: ArgumentHelp("Write flows to dated files in DIR instead of stdout (flows-YYYY-MM-DD.jsonl, ...).", valueName: "dir"))
    var output: String?

    /// Fails early when the output directory is unusable.
    func checkDestination() throws {
        if let output { try TextFlowExporter.checkWritable(output) }
    }

    /// The exporter(s) for a plan. `epochOffsetNs` turns record time into Unix time.
    func makeExporter(plan: Plan, epochOffsetNs: @escaping () -> Int64) throws -> FlowExporter {
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: format.value)
        return try TextFlowExporter(formatter: formatter, destination: output.map { .directory($0) } ?? .standardOutput,
                                    epochOffsetNs: epochOffsetNs)
    }
}

/// Flow expiry timeouts (shared by `run` and `replay`).
struct ExpiryOptions: ParsableArguments {
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("End a flow after this many seconds without packets.", valueName: "sec"))
    var idleTimeout: Double = 60

    @Option(name: .customLong("active-timeout"), help: ArgumentHelp("Export a long flow after this many seconds; it continues in a new record.", valueName: "sec"))
    var activeTimeout: Double = 1800

    func validate() throws {
        for (name, value) in [("--idle-timeout", idleTimeout), ("--active-timeout", activeTimeout)] {
            guard value.isFinite, value > 0, value <= 31_536_000 else {
                throw ValidationError("\(name) must be a number of seconds greater than 0 and at most 31536000, got \(value)")
            }
        }
    }

    /// The collector policy.
    var policy: ExpiryPolicy {
        ExpiryPolicy(idleTimeoutNs: UInt64(idleTimeout * 1e9), activeTimeoutNs: UInt64(activeTimeout * 1e9))
    }
}

/// `--format` values.
enum FormatChoice: String, ExpressibleByArgument, CaseIterable {
    case json, csv, text

    var value: OutputFormat { OutputFormat(rawValue: rawValue)! }
}
