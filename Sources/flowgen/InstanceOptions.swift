import ArgumentParser
import FlowgenKernel

/// `--instance NAME` of the commands that create an instance (run, load); the commands that pick
/// existing instances (collect, status, unload, purge) declare their own, since their default differs.
struct InstanceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Instance name: pins go to /sys/fs/bpf/flowgen/NAME, state to /run/flowgen/NAME (default: the interfaces joined by '+', or 'all' for -a, with '@NETNS' outside the initial network namespace).",
        valueName: "name"))
    var instance: String?

    func validate() throws {
        try Self.validate(instance)
    }

    /// Refuses a name no instance can have (it becomes a path component under /sys/fs/bpf and /run).
    static func validate(_ instance: String?) throws {
        if let instance, !InstancePaths.isValidName(instance) { throw ValidationError("\(InstanceError.invalidName(instance))") }
    }
}
