import ArgumentParser
import FlowgenCore
import FlowgenKernel

/// `flowgen features`: lists the available feature modules and their fields, or with `--ipfix`
/// the IPFIX information element of every exported field.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "List the available feature modules and the fields they add.",
        discussion: """
          flowgen features                           the modules
          flowgen features --fields                  with every field, its output names and IPFIX element
          flowgen features --ipfix --features tcp    the IPFIX templates of a feature set: field → element id/PEN/name,
                                                     forward and reverse (without --features: every module)
          flowgen features --cost --features tcp,ttl what each module costs: record bytes, verified instructions
                                                     (verified instructions need root; without it only bytes)
        """)

    @OptionGroup var featureOptions: FeatureOptions

    @Flag(name: .long, help: "Show each field's output names, aggregation and IPFIX element.")
    var fields = false

    @Flag(name: .long, help: "Show the IPFIX mapping (field → element id, PEN, name; forward and reverse) of the --features selection (default: all).")
    var ipfix = false

    @Flag(name: .long, help: "Show what each module of the --features selection costs: its record bytes and the verified instructions leaving it out saves (those need root).")
    var cost = false

    @OptionGroup var compilerOptions: CompilerOptions

    @Flag(name: .shortAndLong, help: "With --cost: no progress lines.")
    var quiet = false

    func validate() throws {
        if cost && (ipfix || fields) {
            throw ValidationError("--cost cannot be combined with --\(ipfix ? "ipfix" : "fields"); run them as two commands")
        }
    }

    func run() throws {
        let catalog = try featureOptions.catalog()
        if cost {
            try printCost(catalog)
            return
        }
        if ipfix {
            let selection = featureOptions.features.isEmpty ? "all" : featureOptions.features
            let plan = try featureOptions.plan(in: catalog, selection: selection)
            print(IPFIXListing(schema: try IPFIXTemplateBuilder(plan: plan).build()).text(), terminator: "")
            return
        }
        print(FeatureListing(modules: catalog.modules).text(withFields: fields), terminator: "")
        if !catalog.broken.isEmpty {
            // listed, not fatal: only a command that selects one of them fails, with this error
            print("\nbroken modules (not loaded; selecting one fails with its error):")
            for module in catalog.broken { print("  \(module.name): \(module.error)") }
        }
    }

    /// The `--cost` table. Without root the record bytes are shown and the instructions column is
    /// empty with a note saying why; the exit status stays 0, as the part that can be had was given.
    func printCost(_ catalog: FeatureCatalog) throws {
        let plan = try featureOptions.plan(in: catalog)
        guard Privileges.canLoadPrograms() else {
            print(ModuleCostReport(plan: plan).table(), terminator: "")
            Console.warn("verified instructions not measured: loading into the kernel needs root (CAP_BPF); run as root (sudo) for them")
            return
        }
        let measurer = ModuleCostMeasurer(builder: MonitorBuilder(plan: plan, resources: catalog.resources,
                                                                  compiler: ClangCompiler(clang: compilerOptions.clang, cacheDirectory: compilerOptions.cacheDir)))
        let report = try measurer.measure { line in if !quiet { Console.info(line) } }
        print(report.table(), terminator: "")
        print("verified insns: what leaving the module out (with those requiring it) saves; not additive, see docs/commands.md")
    }
}
