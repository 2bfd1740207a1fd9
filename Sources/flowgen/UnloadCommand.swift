import ArgumentParser
import FlowgenKernel

/// `flowgen unload`: detach flowgen's filters from an interface or from every interface.
struct UnloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Detach flowgen's filters from an interface (-i) or from all (-a).",
        discussion: """
        Detaches only what flowgen's state files say it attached, and only while the filter there still runs the recorded program (a filter someone else put at the same place is left alone), then removes a clsact qdisc flowgen created once it is empty. A running collector does not attach there again. The maps stay pinned, so `flowgen collect` can still export what was counted; `flowgen purge` removes them. Needs root.

          flowgen unload -i eth0
          flowgen unload -a --instance all
        """)

    @Option(name: [.short, .customLong("interface")], help: ArgumentHelp("Interface to detach from (repeatable).", valueName: "iface"))
    var interfaces: [String] = []

    @Flag(name: [.short, .customLong("all")], help: "Detach from every interface.")
    var all = false

    @Option(help: ArgumentHelp("Detach only this instance's filters (default: every instance's).", valueName: "name"))
    var instance: String?

    func validate() throws {
        try InstanceOptions.validate(instance)
        if interfaces.isEmpty && !all { throw ValidationError("say where to detach: -i IFACE (repeatable) or -a for everything") }
        if !interfaces.isEmpty && all { throw ValidationError("use either -i or -a, not both") }
        try CommandLineText.validateInterfaces(interfaces)
    }

    func run() throws {
        try Privileges.require()
        let targets: [String?] = all ? [nil] : interfaces.map { Optional($0) }
        for target in targets {
            for line in try InstanceAdmin.unload(interface: target, instance: instance) {
                print(line)
            }
        }
    }
}
