import ArgumentParser
import Foundation
import FlowgenCore
import FlowgenKernel

/// `flowgen run`: attach to interfaces, collect, merge biflows and export until stopped.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Attach a monitor to interfaces and export biflows until stopped.",
        discussion: """
        Attaches to the tc (clsact) hooks of each interface, exports every flow that ends (TCP FIN from both sides or RST, idle timeout, active timeout) each --interval, and on SIGINT/SIGTERM (or after --duration) exports every remaining flow with end reason "forced" and detaches exactly what it attached. Needs root (CAP_BPF and CAP_NET_ADMIN).

          flowgen run -i eth0                          JSON lines on stdout
          flowgen run -a --format csv --output /var/log/flowgen
        """)

    @Option(name: [.short, .customLong("interface")], help: ArgumentHelp("Interface to monitor (repeatable).", valueName: "iface"))
    var interfaces: [String] = []

    @Flag(name: [.short, .customLong("all")], help: "Monitor every interface except lo.")
    var all = false

    @Option(help: ArgumentHelp("Hook: ingress, egress or both.", valueName: "dir"))
    var direction: DirectionChoice = .both

    @Option(help: ArgumentHelp("Seconds between exports of ended flows; 0 exports everything once, at stop.", valueName: "sec"))
    var interval: Double = 1

    @Option(help: ArgumentHelp("Stop by itself after this many seconds.", valueName: "sec"))
    var duration: Double?

    @Option(help: ArgumentHelp("Write progress and error messages to FILE instead of stderr.", valueName: "file"))
    var log: String?

    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var expiryOptions: ExpiryOptions
    @OptionGroup var featureOptions: FeatureOptions
    @OptionGroup var compilerOptions: CompilerOptions
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        if interfaces.isEmpty && !all { throw ValidationError("no interface given: use -i IFACE (repeatable) or -a for every interface") }
        if !interfaces.isEmpty && all { throw ValidationError("use either -i or -a, not both") }
        guard interval.isFinite, interval >= 0, interval <= 86_400 else {
            throw ValidationError("--interval must be a number of seconds from 0 to 86400, got \(interval)")
        }
        if let duration, !(duration.isFinite && duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() throws {
        let messages = try MessageLog(path: log, quiet: logOptions.quiet, verbose: logOptions.verbose)
        try Privileges.require()
        let names = all ? TCAttachment.allInterfaces().filter { $0 != "lo" } : interfaces
        for name in names where if_nametoindex(name) == 0 {
            throw MonitorError.unknownInterface(name)
        }
        try outputOptions.checkDestination()

        let catalog = try featureOptions.catalog()
        let plan = try catalog.plan(features: featureOptions.features, maxFlows: featureOptions.maxFlows)
        let builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir))
        let monitor = try builder.load(verbose: logOptions.verbose)
        messages.info("loaded \(monitor.plan.entryProgram) [\(plan.features.map(\.name).joined(separator: ","))]"
                      + (monitor.object.cacheHit ? " (cached object)" : ""))

        let exporter = try outputOptions.makeExporter(plan: monitor.plan, epochOffsetNs: MonotonicClock.epochOffsetNs)
        let options = LiveMonitor.Options(interfaces: names, directions: direction.directions, interval: interval,
                                          duration: duration, policy: expiryOptions.policy)
        let live = try LiveMonitor(monitor: monitor, options: options, exporter: exporter) { messages.detail($0) }
        let stop = StopSignal()
        stop.install()
        try live.attach()
        messages.info("monitoring \(names.joined(separator: ", ")) (\(direction.rawValue)); stop with Ctrl-C")
        try live.run(until: stop)
        try exporter.close()
        let counters = try monitor.counters().filter { $0.value > 0 }
        if !counters.isEmpty {
            messages.info("kernel counters: " + counters.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.jsonName)=\($0.value)" }.joined(separator: " "))
        }
    }
}

/// `--direction` values.
enum DirectionChoice: String, ExpressibleByArgument, CaseIterable {
    case ingress, egress, both

    var directions: [TCAttachment.Direction] {
        switch self {
        case .ingress: return [.ingress]
        case .egress: return [.egress]
        case .both: return [.ingress, .egress]
        }
    }
}
