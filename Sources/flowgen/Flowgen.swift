import FlowgenCore
import ArgumentParser

/// The flowgen command line: build, run and inspect generated flow monitors.
@main
struct Flowgen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowgen",
        abstract: "Generate, verify and run eBPF flow monitors from declarative feature modules.",
        discussion: """
        flowgen assembles a TC (clsact) program from feature modules, compiles it with clang, loads it with libbpf and exports one record per bidirectional flow.

          flowgen features                      list the feature modules
          flowgen build --features tcp,icmp     generate, compile and verify
          flowgen run -i eth0                   attach, collect, export JSON lines
        """,
        version: FlowgenVersion.string,
        subcommands: [FeaturesCommand.self, SchemaCommand.self, BuildCommand.self, RunCommand.self, ReplayCommand.self, TestCommand.self, NewFeatureCommand.self, BenchCommand.self, LoadCommand.self, CollectCommand.self, UnloadCommand.self, StatusCommand.self, PurgeCommand.self])

    /// Every error in the style of `Console` and of the per-file replay errors ("flowgen: error: ..."),
    /// instead of the parser's own "Error: ...", so scripts and people see one form.
    static var _errorPrefix: String { "flowgen: error: " }
}
