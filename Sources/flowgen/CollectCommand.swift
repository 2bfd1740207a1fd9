import ArgumentParser
import Foundation
import FlowgenCore
import FlowgenKernel

/// `flowgen collect`: export the flows of a pinned instance (from `flowgen load` or `run --pin`).
struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Export the flows of a pinned monitor (flowgen load, run --pin) until stopped.",
        discussion: """
        Opens the pinned flow table (checked against the decoder of the features it was loaded with) and exports ended flows every --interval. On SIGINT/SIGTERM or after --duration it exports the flows that ended and leaves the active ones, the filters and the pins to the next collector, so nothing is lost or cut in two between collectors; when nothing is attached any more it exports every flow. Only one collector runs per instance. Needs root.

          flowgen collect                              the only loaded instance, JSON lines on stdout
          flowgen collect --instance eth0 --output /var/log/flowgen --metrics 127.0.0.1:9464
        """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between exports of ended flows; 0 exports once, at stop.", valueName: "sec"))
    var interval: Double = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop by itself after this many seconds.", valueName: "sec"))
    var duration: Double?

    @Option(help: ArgumentHelp("Write progress and error messages to FILE instead of stderr.", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Collect from this instance (as named by `flowgen status`; default: the only one loaded).", valueName: "name"))
    var instance: String?
    @OptionGroup var collectorOptions: CollectorOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var expiryOptions: ExpiryOptions
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        try InstanceOptions.validate(instance)
        try CommandLineText.refuseControlCharacters([log], option: "--log")
        try CollectionTiming.validate(interval: interval, duration: duration)
    }

    func run() throws {
        let messages = try MessageLog(path: log, quiet: logOptions.quiet, verbose: logOptions.verbose)
        try Privileges.require()
        try outputOptions.checkDestination()
        let metrics = CollectorMetrics()
        let server = try collectorOptions.makeServer(metrics)
        let resources = try ResourceLocator.locate()
        var exporter: FlowExporter?
        let instance = try MonitorInstance.adoptPinned(name: instance, plan: { state in
            let catalog = try FeatureCatalog(resources: resources, userPaths: state.featurePaths, allowUnsafe: state.allowUnsafeFeaturePath)
            let plan = try catalog.plan(features: state.features, maxFlows: state.maxFlows)
            exporter = try outputOptions.makeExporter(plan: plan, epochOffsetNs: MonotonicClock.epochOffsetNs, metrics: metrics, log: messages.logger)
            return plan
        }, log: messages.logger)
        guard let exporter else { throw ValidationErrorText("internal error: no exporter") }
        messages.info("collecting from instance \(instance.paths.name) [\(instance.state.featureNames.joined(separator: ","))]"
                      + ", attached to " + (instance.attachedInterfaces.isEmpty ? "nothing" : instance.attachedInterfaces.joined(separator: ", ")))
        let options = CollectorService.Options(interval: interval, duration: duration, policy: expiryOptions.policy,
                                               highWater: collectorOptions.highWater / 100, onStop: .leaveInstance)
        try Collecting.run(instance: instance, exporter: exporter, options: options, server: server, metrics: metrics, messages: messages)
    }
}
