import ArgumentParser
import Foundation
import FlowgenCore
import FlowgenKernel

/// `flowgen load`: build, load, attach and pin a monitor, and leave it counting without a collector.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load, attach and pin a monitor that counts without a collector.",
        discussion: """
        Builds the monitor, pins its programs and maps under /sys/fs/bpf/flowgen/INSTANCE, attaches it and exits; the kernel keeps counting. Export the flows with `flowgen collect`, see it with `flowgen status`, detach it with `flowgen unload`, remove it with `flowgen purge`. With -a, interfaces that appear later are attached while a collector runs. Needs root.

          flowgen load -i eth0 --features tcp,icmp
          flowgen collect --output /var/log/flowgen
        """)

    @Option(name: [.short, .customLong("interface")], help: ArgumentHelp("Interface to monitor (repeatable).", valueName: "iface"))
    var interfaces: [String] = []

    @Flag(name: [.short, .customLong("all")], help: "Monitor every interface except lo.")
    var all = false

    @Option(help: ArgumentHelp("Hook: ingress, egress or both.", valueName: "dir"))
    var direction: DirectionChoice = .both

    @OptionGroup var instanceOptions: InstanceOptions
    @OptionGroup var featureOptions: FeatureOptions
    @OptionGroup var planOptions: PlanOptions
    @OptionGroup var compilerOptions: CompilerOptions
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        if interfaces.isEmpty && !all { throw ValidationError("no interface given: use -i IFACE (repeatable) or -a for every interface") }
        if !interfaces.isEmpty && all { throw ValidationError("use either -i or -a, not both") }
        try CommandLineText.validateInterfaces(interfaces)
    }

    func run() throws {
        let messages = try MessageLog(path: nil, quiet: logOptions.quiet, verbose: logOptions.verbose)
        try Privileges.require()
        for name in interfaces where if_nametoindex(name) == 0 {
            throw KernelError.interfaceNotFound(name)
        }
        let catalog = try featureOptions.catalog()
        let plan = try featureOptions.plan(in: catalog, maxFlows: planOptions.maxFlows)
        var builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir),
                                     stages: planOptions.stagePolicy)
        builder.verifierLogPath = featureOptions.verifierLog
        let request = InstanceRequest(name: instanceOptions.instance, features: featureOptions.features,
                                      featurePaths: featureOptions.featurePaths,
                                      allowUnsafeFeaturePath: featureOptions.allowUnsafeFeaturePath,
                                      interfaces: interfaces, allInterfaces: all, directions: direction.directions, pin: true)
        let instance = try MonitorInstance.start(request, plan: plan, loadOnly: true,
                                                 load: { try builder.load(verbose: logOptions.verbose, log: messages.logger) },
                                                 log: messages.logger)
        defer { instance.release() }
        let state = instance.state
        messages.info("loaded instance \(state.instance) [\(state.featureNames.joined(separator: ","))], programs "
                      + state.programs.map { "\($0.name) (id \($0.id))" }.joined(separator: ", ")
                      + ", pinned in \(instance.paths.pinDirectory)")
        messages.info("collect its flows with `flowgen collect --instance \(state.instance)`")
    }
}
