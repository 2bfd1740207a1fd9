import ArgumentParser
import FlowgenCore

/// `flowgen features`: lists the available feature modules and their fields.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "List the available feature modules and the fields they add.")

    @OptionGroup var featureOptions: FeatureOptions

    @Flag(name: .long, help: "Show each field's output names, aggregation and IPFIX element.")
    var fields = false

    func run() throws {
        let catalog = try featureOptions.catalog()
        print(FeatureListing(modules: catalog.modules).text(withFields: fields), terminator: "")
    }
}
