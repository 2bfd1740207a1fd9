import ArgumentParser
import Foundation
import FlowgenKernel

/// `flowgen status`: what flowgen has attached where, with which features, and how full its tables are.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show flowgen's instances: attachments, features, flows in the table, kernel counters.",
        discussion: """
        One block per instance (or a JSON array with --json): pinned or not, whether a collector runs, the programs and features, every filter and whether it is still attached, the flow table's fill and the kernel counters that are not zero. Needs root (it reads the maps).
        """)

    @Flag(help: "Print JSON (an array of objects, one per instance).")
    var json = false

    @Option(help: ArgumentHelp("Show only this instance (as named by `flowgen status`; default: every instance).", valueName: "name"))
    var instance: String?

    func validate() throws {
        try InstanceOptions.validate(instance)
    }

    func run() throws {
        try Privileges.require()
        let statuses = try InstanceStatus.gather(name: instance)
        if json {
            let data = try JSONSerialization.data(withJSONObject: statuses.map(\.object), options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if statuses.isEmpty { print("no flowgen instance is loaded") }
        print(statuses.map(\.text).joined(separator: "\n"), terminator: "")
    }
}
