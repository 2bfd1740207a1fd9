import ArgumentParser
import FlowgenKernel

/// `flowgen purge`: remove an instance's filters, pins, maps and state.
struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove flowgen's pinned programs and maps (and any filter still attached).",
        discussion: """
        Detaches what is still attached (checked by program id), removes the pins under /sys/fs/bpf/flowgen/INSTANCE and the state under /run/flowgen/INSTANCE; the kernel frees the maps and programs with their last reference. Flows not exported yet are dropped (the count is printed): to keep them, `flowgen unload` first and let `flowgen collect --duration 1` export them. Refuses while a collector holds the instance unless --force. Without --instance, every instance. Needs root.
        """)

    @Flag(help: "Purge even while a collector runs (it keeps only what it already read).")
    var force = false

    @Option(help: ArgumentHelp("Remove only this instance (default: every instance).", valueName: "name"))
    var instance: String?

    func validate() throws {
        try InstanceOptions.validate(instance)
    }

    func run() throws {
        try Privileges.require()
        for line in try InstanceAdmin.purge(instance: instance, force: force) {
            print(line)
        }
    }
}
