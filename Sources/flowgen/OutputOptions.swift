import ArgumentParser
import Foundation
import Logging
import FlowgenCore
import FlowgenKernel

/// How exported flows are written (shared by `run` and `replay`): a text format (JSON lines, CSV,
/// a table, or none) and any number of IPFIX destinations, all fed the same flows.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output format: json (JSON lines), csv, text, or none (only --ipfix).", valueName: "fmt"))
    var format: FormatChoice = .json

    @Option(help: ArgumentHelp("Write flows to dated files in DIR instead of stdout (flows-YYYY-MM-DD.jsonl, ...).", valueName: "dir"))
    var output: String?

    @Option(name: .customLong("ipfix"), help: ArgumentHelp(
        "Also export IPFIX (RFC 7011, RFC 5103 biflows) to udp://HOST:PORT, tcp://HOST:PORT or file://PATH (repeatable).",
        valueName: "url"))
    var ipfix: [String] = []

    @Option(name: .customLong("ipfix-domain"), parsing: .unconditional, help: ArgumentHelp("IPFIX observation domain id.", valueName: "n"))
    var ipfixDomain: Int = 0

    @Option(name: .customLong("ipfix-template-refresh"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds between IPFIX template refreshes over UDP (they are also resent after 100 messages).", valueName: "sec"))
    var ipfixTemplateRefresh: Double = 60

    @Option(name: .customLong("clickhouse"), help: ArgumentHelp(
        "Also insert flows into ClickHouse: http://[USER@]HOST:8123/?database=DB&table=NAME (password: FLOWGEN_CLICKHOUSE_PASSWORD).",
        valueName: "url"))
    var clickhouse: String?

    @Flag(name: .customLong("clickhouse-create"), help: "Create the ClickHouse table (and database) when missing.")
    var clickhouseCreate = false

    @Option(name: .customLong("exporter-id"), help: ArgumentHelp(
        "The EXPORTER_ID of this agent's ClickHouse rows (default: the host name).", valueName: "id"))
    var exporterID: String?

    @Option(name: .customLong("clickhouse-spool"), help: ArgumentHelp(
        "Folder for ClickHouse batches the server could not take yet (default: <cache dir>/clickhouse-spool).", valueName: "dir"))
    var clickhouseSpool: String?

    @Option(name: .customLong("clickhouse-spool-max"), parsing: .unconditional, help: ArgumentHelp(
        "Most MiB the ClickHouse spool may hold; batches past it are lost and counted.", valueName: "mib"))
    var clickhouseSpoolMax: Int = 1024

    func validate() throws {
        try CommandLineText.refuseControlCharacters([output], option: "--output")
        try CommandLineText.refuseControlCharacters([clickhouseSpool], option: "--clickhouse-spool")
        guard (1...1_048_576).contains(clickhouseSpoolMax) else {
            throw ValidationError("--clickhouse-spool-max must be from 1 to 1048576 MiB, got \(clickhouseSpoolMax)")
        }
        try CommandLineText.refuseControlCharacters([clickhouse, exporterID], option: "--clickhouse/--exporter-id")
        if let clickhouse {
            do { _ = try ClickHouseDestination(parsing: clickhouse) } catch { throw ValidationError("\(error)") }
        }
        if clickhouseCreate && clickhouse == nil { throw ValidationError("--clickhouse-create needs --clickhouse URL") }
        if let exporterID, exporterID.isEmpty || exporterID.utf8.count > 255 {
            throw ValidationError("--exporter-id must be 1 to 255 bytes, got \(exporterID.utf8.count)")
        }
        try CommandLineText.refuseControlCharacters(ipfix, option: "--ipfix")
        if format == .none && ipfix.isEmpty && clickhouse == nil {
            throw ValidationError("--format none exports nothing without --ipfix URL or --clickhouse URL")
        }
        if format == .none && output != nil {
            throw ValidationError("--output DIR needs a text format (json, csv or text), not --format none")
        }
        guard (0...Int(UInt32.max)).contains(ipfixDomain) else {
            throw ValidationError("--ipfix-domain must be from 0 to \(UInt32.max), got \(ipfixDomain)")
        }
        guard ipfixTemplateRefresh.isFinite, ipfixTemplateRefresh > 0, ipfixTemplateRefresh <= 86_400 else {
            throw ValidationError("--ipfix-template-refresh must be a number of seconds greater than 0 and at most 86400, got \(CommandLineText.number(ipfixTemplateRefresh))")
        }
        for url in ipfix {
            do { _ = try IPFIXDestination(parsing: url) } catch { throw ValidationError("\(error)") }
        }
    }

    /// Fails early when the output directory is unusable.
    func checkDestination() throws {
        if let output { try TextFlowExporter.checkWritable(output) }
    }

    /// The IPFIX session options chosen.
    var ipfixOptions: IPFIXExporter.Options {
        var options = IPFIXExporter.Options()
        options.observationDomainID = UInt32(ipfixDomain)
        options.templateRefreshInterval = ipfixTemplateRefresh
        return options
    }

    /// The exporter(s) for a plan: the text output unless `--format none`, then one IPFIX exporter
    /// per `--ipfix`. `epochOffsetNs` turns record time into Unix time; `log` receives IPFIX
    /// transport events and, at close, each destination's counters (default: standard error).
    func makeExporter(plan: Plan, epochOffsetNs: @escaping () -> Int64, metrics: CollectorMetrics? = nil,
                      log: Logger = Console.logger) throws -> FlowExporter {
        var members: [FlowExporter] = []
        if let format = format.value {
            let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: format)
            members.append(try TextFlowExporter(formatter: formatter, destination: output.map { .directory($0) } ?? .standardOutput,
                                                epochOffsetNs: epochOffsetNs))
        }
        for url in ipfix {
            members.append(try IPFIXExporter(plan: plan, destination: IPFIXDestination(parsing: url), options: ipfixOptions,
                                             epochOffsetNs: epochOffsetNs, log: log))
        }
        if let clickhouse {
            let destination = try ClickHouseDestination(parsing: clickhouse)
            let root = clickhouseSpool ?? ClangCompiler.defaultCacheDirectory(environment: ProcessInfo.processInfo.environment) + "/clickhouse-spool"
            members.append(try ClickHouseExporter(plan: plan, destination: destination,
                                                  exporterID: exporterID ?? ClickHouseExporter.defaultExporterID(), create: clickhouseCreate,
                                                  spoolDirectory: ClickHouseExporter.spoolDirectory(root: root, destination: destination),
                                                  spoolBytes: clickhouseSpoolMax << 20, metrics: metrics, epochOffsetNs: epochOffsetNs, log: log))
        }
        return members.count == 1 ? members[0] : ExporterGroup(members)
    }
}

/// Flow expiry timeouts (shared by `run` and `replay`).
struct ExpiryOptions: ParsableArguments {
    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: ArgumentHelp("End a flow after this many seconds without packets.", valueName: "sec"))
    var idleTimeout: Double = 60

    @Option(name: .customLong("active-timeout"), parsing: .unconditional, help: ArgumentHelp("Export a long flow after this many seconds; it continues in a new record.", valueName: "sec"))
    var activeTimeout: Double = 1800

    func validate() throws {
        for (name, value) in [("--idle-timeout", idleTimeout), ("--active-timeout", activeTimeout)] {
            guard value.isFinite, value > 0, value <= 31_536_000 else {
                throw ValidationError("\(name) must be a number of seconds greater than 0 and at most 31536000, got \(CommandLineText.number(value))")
            }
        }
    }

    /// The collector policy.
    var policy: ExpiryPolicy {
        ExpiryPolicy(idleTimeoutNs: UInt64(idleTimeout * 1e9), activeTimeoutNs: UInt64(activeTimeout * 1e9))
    }
}

/// `--format` values; `none` writes no text (for IPFIX-only export).
enum FormatChoice: String, ExpressibleByArgument, CaseIterable {
    case json, csv, text, none

    /// The text format, nil for `none`.
    var value: OutputFormat? { OutputFormat(rawValue: rawValue) }
}

/// Checks of the collector's --interval and --duration, shared by `run` and `collect`.
enum CollectionTiming {
    /// Throws a message naming the option when a value is out of range.
    static func validate(interval: Double, duration: Double?) throws {
        guard interval.isFinite, interval >= 0, interval <= 86_400 else {
            throw ValidationError("--interval must be a number of seconds from 0 to 86400, got \(CommandLineText.number(interval))")
        }
        if let duration, !(duration.isFinite && duration > 0) {
            throw ValidationError("--duration must be a positive number of seconds, got \(CommandLineText.number(duration))")
        }
    }
}
