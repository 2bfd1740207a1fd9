import ArgumentParser
import Foundation
import Logging
import FlowgenCore
import FlowgenKernel

/// `flowgen build`: plan, generate, compile and verify a monitor; optionally dump a step.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Generate, compile and verify a monitor for a feature set.",
        discussion: """
        Without --emit, prints a summary of the build. The kernel verifies the program when flowgen runs as root; otherwise the object is only compiled. Objects are cached by content, so a second identical build does not run clang.

          flowgen build --features tcp,icmp --emit plan   plan as JSON, verified_insns, each module's record bytes
          flowgen build --features tcp --emit plan --cost also each module's verified instructions (slow once)
          flowgen build --features tcp --emit c           the generated C
          flowgen build --features tcp -o mon.o           object + mon.manifest.json
        """)

    enum Emit: String, ExpressibleByArgument, CaseIterable {
        case plan, c, obj
    }

    @OptionGroup var featureOptions: FeatureOptions
    @OptionGroup var planOptions: PlanOptions
    @OptionGroup var compilerOptions: CompilerOptions
    @OptionGroup var logOptions: LogOptions

    @Option(help: ArgumentHelp("Print one step: plan (JSON), c (generated C) or obj (object bytes; redirect them).", valueName: "plan|c|obj"))
    var emit: Emit?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the object to FILE.o and its layout manifest to FILE.manifest.json.", valueName: "file.o"))
    var output: String?

    @Flag(help: ArgumentHelp("With --emit plan: also give each module's verified instructions, by verifying the selection without each module (root; one verification per module the first time, remembered after)."))
    var cost = false

    func validate() throws {
        try CommandLineText.refuseControlCharacters([output], option: "--output")
        if cost && emit != .plan { throw ValidationError("--cost goes with --emit plan (or use `flowgen features --cost --features LIST`)") }
    }

    func run() throws {
        let started = Date()
        let catalog = try featureOptions.catalog()
        let plan = try featureOptions.plan(in: catalog, maxFlows: planOptions.maxFlows)
        var builder = MonitorBuilder(plan: plan, resources: catalog.resources,
                                     compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir),
                                     stages: planOptions.stagePolicy)
        builder.verifierLogPath = featureOptions.verifierLog
        if emit == .c {
            let source = try builder.generate()
            for name in source.files.keys.sorted() where name != source.mainFile {
                print("/* ---- \(name) ---- */\n" + source.files[name]!)
            }
            print("/* ---- \(source.mainFile) ---- */\n" + source.mainText)
            return
        }
        var object: CompiledObject
        var verifiedPlan = plan
        var remembered = false
        if Privileges.canLoadPrograms(), let earlier = try builder.verifiedEarlier() {
            // the same object on the same kernel build: the verifier's verdict and counts are known
            (verifiedPlan, object, remembered) = (earlier.plan, earlier.object, true)
        } else if Privileges.canLoadPrograms() {
            // the stage fitter's lines are details: shown with -v only
            var log = Console.logger
            log.logLevel = logOptions.verbose ? .debug : .info
            let monitor = try builder.load(verbose: logOptions.verbose, log: log)
            verifiedPlan = monitor.plan
            object = monitor.object
        } else {
            object = try builder.compile().1
            if !logOptions.quiet {
                Console.warn("not verified: loading into the kernel needs root (CAP_BPF); the object was only compiled, as one stage")
            }
        }
        if let output {
            try ObjectExport.write(object: object, plan: verifiedPlan, to: output)
        }
        switch emit {
        case .plan:
            // each module's share: record bytes from the plan; verified instructions with --cost when this run
            // may load (the variants without each module are verified once, then remembered like any build)
            // verifying a variant per module takes minutes for a large selection the first time: only when asked
            var cost = ModuleCostReport(plan: plan)
            if self.cost && Privileges.canLoadPrograms() {
                do {
                    cost = try ModuleCostMeasurer(builder: builder)
                        .measure { line in if !logOptions.quiet { Console.info(line) } }
                } catch {
                    // the plan itself was verified: a variant that fails leaves the figures out, not the plan
                    Console.warn("per-module verified instructions left out (cost.modules[].verified_insns is null): \(error); `flowgen features --cost` shows the failure in full")
                }
            }
            print(PlanDocument(plan: verifiedPlan, cost: cost).json(), terminator: "")
        case .obj:
            guard isatty(STDOUT_FILENO) == 0 else {
                throw ValidationError("--emit obj writes binary data: redirect it to a file, or use -o FILE.o")
            }
            FileHandle.standardOutput.write(try Data(contentsOf: URL(fileURLWithPath: object.objectPath)))
        case .c, nil:
            guard !logOptions.quiet else { return }
            let ms = Int(Date().timeIntervalSince(started) * 1000)
            var line = "built \(verifiedPlan.entryProgram) [\(verifiedPlan.features.map(\.name).joined(separator: ","))]"
            line += ", record \(verifiedPlan.layout.size) B"
            for stage in verifiedPlan.stages {
                if let n = stage.verifiedInstructions { line += ", \(stage.program): \(n) insns verified" }
            }
            if remembered { line += " (verdict remembered for this kernel)" }
            line += ", \(object.cacheHit ? "cached" : "compiled") in \(ms) ms"
            print(line)
            if logOptions.verbose { print("object: \(object.objectPath)") }
            if let output { print("wrote \(output) and \(ObjectExport.manifestPath(for: output))") }
        }
    }
}
