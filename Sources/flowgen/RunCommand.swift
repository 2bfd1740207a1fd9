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
          flowgen run --config /etc/default/flowgen --pin --metrics 127.0.0.1:9464

        With -a, interfaces that appear later are attached too and ones that vanish are forgotten. With --pin, programs and maps are pinned under /sys/fs/bpf/flowgen/INSTANCE: if the process dies (even by SIGKILL) the programs keep counting, and the next `flowgen run --pin` with the same options adopts them and exports every packet counted meanwhile. --config FILE reads `key = value` lines named like the long options; the command line wins.
        """)

    @Option(name: [.short, .customLong("interface")], help: ArgumentHelp("Interface to monitor (repeatable).", valueName: "iface"))
    var interfaces: [String] = []

    @Flag(name: [.short, .customLong("all")], help: "Monitor every interface except lo.")
    var all = false

    @Option(help: ArgumentHelp("Hook: ingress, egress or both.", valueName: "dir"))
    var direction: DirectionChoice = .both

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between exports of ended flows; 0 exports everything once, at stop.", valueName: "sec"))
    var interval: Double = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop by itself after this many seconds.", valueName: "sec"))
    var duration: Double?

    @Option(help: ArgumentHelp("Write progress and error messages to FILE instead of stderr.", valueName: "file"))
    var log: String?

    @Flag(help: "Pin programs and maps under /sys/fs/bpf/flowgen/INSTANCE so they outlive this process; adopt them when pinned already.")
    var pin = false

    @Option(help: ArgumentHelp("Read settings from FILE (`key = value` lines named like the long options); the command line wins.", valueName: "file"))
    var config: String?

    @OptionGroup var instanceOptions: InstanceOptions
    @OptionGroup var collectorOptions: CollectorOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var expiryOptions: ExpiryOptions
    @OptionGroup var featureOptions: FeatureOptions
    @OptionGroup var planOptions: PlanOptions
    @OptionGroup var compilerOptions: CompilerOptions
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        try CommandLineText.refuseControlCharacters([config], option: "--config")
        // with --config the settings are checked once merged, in run()
        if config != nil { return }
        if interfaces.isEmpty && !all { throw ValidationError("no interface given: use -i IFACE (repeatable) or -a for every interface") }
        if !interfaces.isEmpty && all { throw ValidationError("use either -i or -a, not both") }
        try CommandLineText.validateInterfaces(interfaces)
        try CommandLineText.refuseControlCharacters([log], option: "--log")
        try CollectionTiming.validate(interval: interval, duration: duration)
    }

    func run() throws {
        if let config {
            var merged = try ConfigArguments.parse(RunCommand.self, config: config, subcommand: "run")
            merged.config = nil
            return try merged.run()
        }
        let messages = try MessageLog(path: log, quiet: logOptions.quiet, verbose: logOptions.verbose)
        try Privileges.require()
        for name in interfaces where if_nametoindex(name) == 0 {
            throw KernelError.interfaceNotFound(name)
        }
        try outputOptions.checkDestination()

        let catalog = try featureOptions.catalog()
        let plan = try featureOptions.plan(in: catalog, maxFlows: planOptions.maxFlows)
        var builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir),
                                     stages: planOptions.stagePolicy)
        builder.verifierLogPath = featureOptions.verifierLog
        let metrics = CollectorMetrics()
        let server = try collectorOptions.makeServer(metrics)
        let exporter = try outputOptions.makeExporter(plan: plan, epochOffsetNs: MonotonicClock.epochOffsetNs, metrics: metrics, log: messages.logger)
        let request = InstanceRequest(name: instanceOptions.instance, features: featureOptions.features,
                                      featurePaths: featureOptions.featurePaths,
                                      allowUnsafeFeaturePath: featureOptions.allowUnsafeFeaturePath,
                                      interfaces: interfaces, allInterfaces: all, directions: direction.directions, pin: pin)
        let instance: MonitorInstance
        do {
            instance = try MonitorInstance.start(request, plan: plan, load: {
                let monitor = try builder.load(verbose: logOptions.verbose, log: messages.logger)
                messages.info("loaded \(monitor.plan.entryProgram) [\(plan.features.map(\.name).joined(separator: ","))]"
                              + (monitor.object.cacheHit ? " (cached object)" : ""))
                return monitor
            }, log: messages.logger)
        } catch {
            try? exporter.close()
            throw error
        }
        if instance.adopted {
            messages.info("adopted pinned instance \(instance.paths.name) [\(instance.state.featureNames.joined(separator: ","))]: "
                          + "its programs kept counting; flows counted meanwhile are exported")
        } else if pin {
            messages.info("pinned instance \(instance.paths.name) in \(instance.paths.pinDirectory)")
        }
        let watched = all ? "every interface but lo, also new ones" : interfaces.joined(separator: ", ")
        messages.info("monitoring \(watched) (\(direction.rawValue)); stop with Ctrl-C")
        let options = CollectorService.Options(interval: interval, duration: duration, policy: expiryOptions.policy,
                                               highWater: collectorOptions.highWater / 100, onStop: .removeInstance)
        try Collecting.run(instance: instance, exporter: exporter, options: options, server: server, metrics: metrics, messages: messages)
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
