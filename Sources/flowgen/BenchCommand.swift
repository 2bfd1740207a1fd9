import ArgumentParser
import Foundation
import FlowgenCore
import FlowgenKernel
import FlowgenBench

/// `flowgen bench`: measures flowgen's costs next to floor programs timed in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure per-packet cost, packet rate, collector, build and replay speed against their targets.",
        discussion: """
        Needs root. Prints tables on stdout (progress on stderr); every missed target is listed at the \
        end as MISS. The benchmark is not a test: it creates two network namespaces (198.18.0.0/15, \
        fd00::/8) for the end-to-end part and removes them, and never sends traffic elsewhere.

          flowgen bench --quick                      everything, in about a minute
          flowgen bench --only kernel --json k.json  per-packet cost, all numbers
          flowgen bench --only modules               ns/packet each module adds over base (also in the full kernel section)
        """)

    @OptionGroup var compilerOptions: CompilerOptions

    @Flag(help: "Fewer repetitions and smaller inputs (about a minute in all); same methods.")
    var quick = false

    @Option(help: ArgumentHelp("Run only these sections (comma-separated).", valueName: "kernel|e2e|collector|build|replay|clickhouse|modules"))
    var only: String?

    @Option(help: ArgumentHelp("Also write every number (samples included) as JSON to FILE.", valueName: "file"))
    var json: String?

    @Option(name: .customLong("feature-path"), help: ArgumentHelp("Also load feature modules from DIR (repeatable).", valueName: "dir"))
    var featurePaths: [String] = []

    @Flag(name: .customLong("allow-unsafe-feature-path"), help: "Accept a feature path that users other than its owner can write to.")
    var allowUnsafeFeaturePath = false

    @Flag(name: .shortAndLong, help: "No progress messages.")
    var quiet = false

    func validate() throws {
        try CommandLineText.refuseControlCharacters([json], option: "--json")
        try CommandLineText.refuseControlCharacters(featurePaths, option: "--feature-path")
        _ = try sections()
    }

    func sections() throws -> [BenchSection] {
        guard let only else { return BenchSection.allCases }
        var sections: [BenchSection] = []
        for part in only.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            // `modules` is the kernel section cut down to base and base+each module
            guard let section = name == "modules" ? .kernel : BenchSection(rawValue: name) else {
                throw ValidationError("unknown section '\(name)' for --only; choose from \((BenchSection.allCases.map(\.rawValue) + ["modules"]).joined(separator: ", "))")
            }
            if !sections.contains(section) { sections.append(section) }
        }
        return sections
    }

    /// `--only modules` without `kernel`: the kernel section measures only base and base+each module.
    var modulesOnly: Bool {
        let names = (only ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return names.contains("modules") && !names.contains("kernel")
    }

    func run() throws {
        var options = BenchOptions(resources: try ResourceLocator.locate(),
                                   compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir))
        if quick { options.useQuickProfile() }
        options.sections = try sections()
        if modulesOnly { options.modules = [] }
        options.featurePaths = featurePaths
        options.allowUnsafeFeaturePath = allowUnsafeFeaturePath
        options.flowgenExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let quiet = self.quiet
        let report = try BenchRunner(options: options) { message in
            if !quiet { Console.info("bench: " + message) }
        }.run()
        print(report.render(), terminator: "")
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json))
        }
        if !report.errors.isEmpty { throw ExitCode(1) }
    }
}
