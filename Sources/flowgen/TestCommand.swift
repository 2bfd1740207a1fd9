import ArgumentParser
import Foundation
import FlowgenCore
import FlowgenKernel

/// `flowgen test`: runs feature modules' test vectors (`<module>/tests/*.yaml`) through the replay
/// engines and reports, per vector, pass or each field that differs.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run feature modules' test vectors (tests/*.yaml in a module's folder).",
        discussion: """
        Each vector's packets run through a fresh build of its module (with the vector's `features:`) \
        on the replay engine, and the flows that come out are compared with the vector's expected \
        values: one line per vector and engine, PASS or FAIL, and under a FAIL each field that \
        differs with the expected and the actual value. The exit status is 1 when any vector fails.

        Without MODULE: every module of the --feature-path folders that has vectors, or, without \
        --feature-path, every built-in module. The vector format is in docs/modules.md.

          flowgen test                                        every built-in module, native engine
          flowgen test --engine both tcp pkt_len              two modules, native and in the kernel (root)
          flowgen test --feature-path ~/flowgen-features      your own modules
        """)

    /// Which engines run the vectors.
    enum Engines: String, ExpressibleByArgument, CaseIterable {
        case native, kernel, both

        var engines: [ReplayEngine] {
            switch self {
            case .native: return [.native]
            case .kernel: return [.kernel]
            case .both: return [.native, .kernel]
            }
        }
    }

    @Argument(help: ArgumentHelp("Modules whose vectors run (default: those of --feature-path, else every built-in module).", valueName: "module"))
    var modules: [String] = []

    @Option(help: ArgumentHelp("native (default): no root needed. kernel: the verified BPF program with BPF_PROG_TEST_RUN (root). both: each vector on both.",
                               valueName: "native|kernel|both"))
    var engine: Engines = .native

    @Option(name: .customLong("feature-path"), help: ArgumentHelp("Also load feature modules from DIR (repeatable).", valueName: "dir"))
    var featurePaths: [String] = []

    @Flag(name: .customLong("allow-unsafe-feature-path"), help: "Accept a feature path that users other than its owner can write to.")
    var allowUnsafeFeaturePath = false

    @OptionGroup var compilerOptions: CompilerOptions

    func validate() throws {
        try CommandLineText.refuseControlCharacters(modules, option: "module")
        try CommandLineText.refuseControlCharacters(featurePaths, option: "--feature-path")
    }

    func run() throws {
        if engine != .native {
            do {
                try Privileges.require()
            } catch let error as KernelError {
                throw ValidationErrorText("\(error) (or run the vectors with --engine native, which needs no privileges)")
            }
        }
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate(), userPaths: featurePaths, allowUnsafe: allowUnsafeFeaturePath)
        let byName = Dictionary(catalog.modules.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var selected: [FeatureModule] = []
        for name in modules {
            guard let module = byName[name] else {
                let hint = NameSuggestion.closest(to: name, among: Array(byName.keys)).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationErrorText("unknown module '\(name)'\(hint) (`flowgen features` lists them; add yours with --feature-path DIR)")
            }
            if TestVector.files(inModule: module.directory).isEmpty {
                throw ValidationErrorText("module '\(name)' has no test vectors: add \(module.directory)/tests/NAME.yaml (docs/modules.md, \"Test vectors\")")
            }
            selected.append(module)
        }
        var untested: [String] = []
        if modules.isEmpty {
            let roots = featurePaths.isEmpty ? [catalog.resources.features] : featurePaths
            let standardized = Set(roots.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
            for module in catalog.modules
            where standardized.contains(URL(fileURLWithPath: module.directory).deletingLastPathComponent().standardizedFileURL.path) {
                if TestVector.files(inModule: module.directory).isEmpty { untested.append(module.name) } else { selected.append(module) }
            }
            if selected.isEmpty {
                throw ValidationErrorText("no module in \(roots.joined(separator: ", ")) has test vectors (tests/*.yaml); `flowgen new-feature NAME` writes a module with one")
            }
        }
        let runner = VectorRunner(catalog: catalog, compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir))
        var passed = 0, failed = 0
        for module in selected {
            for file in TestVector.files(inModule: module.directory) {
                let label = "\(module.name)/\(((file as NSString).lastPathComponent as NSString).deletingPathExtension)"
                let vector: TestVector
                do {
                    vector = try TestVector.load(file)
                } catch {
                    failed += engine.engines.count
                    print("FAIL  \(label): \(error)")
                    continue
                }
                for engine in engine.engines {
                    do {
                        let result = try runner.run(vector, of: module.name, engine: engine)
                        if result.passed {
                            passed += 1
                            print("PASS  \(label) (\(engine.rawValue))")
                        } else {
                            failed += 1
                            print("FAIL  \(label) (\(engine.rawValue))")
                            for problem in result.problems { print("      \(problem)") }
                        }
                    } catch {
                        failed += 1
                        print("FAIL  \(label) (\(engine.rawValue)): \(error)")
                    }
                }
            }
        }
        if !untested.isEmpty { print("no vectors: \(untested.joined(separator: ", "))") }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
    }
}
