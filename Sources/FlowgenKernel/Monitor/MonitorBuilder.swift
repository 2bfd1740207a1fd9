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

    /// Creates a builder.
    public init(plan: Plan, resources: ResourceLocator, compiler: ClangCompiler) {
        self.plan = plan
        self.resources = resources
        self.compiler = compiler
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

    /// Compiles, loads and verifies; the returned monitor's plan carries `verified_insns`.
    public func load(replay: Bool = false, verbose: Bool = false) throws -> LoadedMonitor {
        let (_, object) = try compile()
        return try LoadedMonitor(plan: plan, object: object, replay: replay, verbose: verbose)
    }
}
