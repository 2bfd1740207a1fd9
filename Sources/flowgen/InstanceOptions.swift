import ArgumentParser
import FlowgenKernel

/// `--instance NAME` (run, load, collect, unload, status, purge).
struct InstanceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Instance name: pins go to /sys/fs/bpf/flowgen/NAME, state to /run/flowgen/NAME (default: the interfaces joined by '+', or 'all' for -a, with '@NETNS' outside the initial network namespace).",
        valueName: "name"))
    var instance: String?

    func validate() throws {
        if let instance, !InstancePaths.isValidName(instance) { throw ValidationError("\(InstanceError.invalidName(instance))") }
    }
}
