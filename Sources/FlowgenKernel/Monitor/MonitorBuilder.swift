import Foundation
import Logging
import FlowgenCore

/// The build steps after planning: generate C from the plan, compile it (cached), load and verify it,
/// and check the decoder against the object's BTF. Each step's result can be dumped.
public struct MonitorBuilder {
    /// The plan being built.
    public let plan: Plan
    /// Where templates live.
    public let resources: ResourceLocator
    /// The clang driver.
    public let compiler: ClangCompiler
    /// How far the plan may be split into tail-called stages.
    public let stages: StagePolicy

    /// Creates a builder.
    public init(plan: Plan, resources: ResourceLocator, compiler: ClangCompiler, stages: StagePolicy = StagePolicy()) {
        self.plan = plan
        self.resources = resources
        self.compiler = compiler
        self.stages = stages
    }

    /// Generates the C sources.
    public func generate() throws -> GeneratedSource {
        try CodeGenerator(resources: resources).generate(plan)
    }

    /// Generates and compiles (a cache hit spawns no process).
    public func compile() throws -> (GeneratedSource, CompiledObject) {
        let source = try generate()
        return (source, try compiler.compile(source, version: FlowgenVersion.string))
    }

    /// The verified plan and cached object of a build this kernel already verified (nil: `load` must run).
    public func verifiedEarlier() throws -> (plan: Plan, object: CompiledObject)? {
        try StageFitter(plan: plan, policy: stages, resources: resources, compiler: compiler).verifiedEarlier()
    }

    /// Compiles, loads and verifies, split into tail-called stages when one program does not fit;
    /// the returned monitor's plan carries the stages and their `verified_insns`.
    /// A refusal names the module line the verifier log points at and, with `verifierLogPath`,
    /// writes the whole log there.
    public func load(replay: Bool = false, verbose: Bool = false, log: Logger = .silent) throws -> LoadedMonitor {
        do {
            return try StageFitter(plan: plan, policy: stages, resources: resources, compiler: compiler, log: log)
                .load(replay: replay, verbose: verbose)
        } catch let KernelError.verifierRejected(program, text, _, _) {
            var written: String?
            if let path = verifierLogPath {
                // 0600: the log shows kernel addresses of maps
                guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw KernelError.systemCall(operation: "writing the verifier log to \(path) (choose another --verifier-log FILE)", code: errno)
                }
                written = path
            }
            throw KernelError.verifierRejected(program: program, log: text, origin: VerifierSource.locate(log: text, plan: plan)?.description,
                                               logFile: written)
        }
    }

    /// Where `load` writes the whole verifier log when the kernel refuses the program (nil: nowhere).
    public var verifierLogPath: String?

    /// Builds the plan for this machine instead of the kernel (`replay --engine native`): the same
    /// generated C as one program (no verifier, so no stage split), compiled through the cache.
    public func loadNative() throws -> NativeMonitor {
        try NativeMonitor(plan: plan, resources: resources, compiler: compiler)
    }
}
