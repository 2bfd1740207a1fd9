import ArgumentParser
import FlowgenCore

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
        """)

    @OptionGroup var featureOptions: FeatureOptions

    @Flag(name: .long, help: "Show each field's output names, aggregation and IPFIX element.")
    var fields = false

    @Flag(name: .long, help: "Show the IPFIX mapping (field → element id, PEN, name; forward and reverse) of the --features selection (default: all).")
    var ipfix = false

    func run() throws {
        let catalog = try featureOptions.catalog()
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
}
