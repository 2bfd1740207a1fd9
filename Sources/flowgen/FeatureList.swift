import ArgumentParser
import Foundation
import FlowgenCore

/// The `--features` list as typed: spelling checks before anything is built, and the closest
/// module name when a name is unknown (most unknown names are typos of a real one).
enum FeatureList {
    /// `spec` with the spaces around each name removed (`tcp, icmp` → `tcp,icmp`); an empty name
    /// (`tcp,,icmp`, a trailing comma, a lone `-`) is refused rather than skipped, since it is
    /// usually a name lost while editing.
    static func normalized(_ spec: String) throws -> String {
        if spec.allSatisfy(\.isWhitespace) { return "" }
        let names = spec.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for (index, name) in names.enumerated() where name.isEmpty || name == "-" {
            throw ValidationError("--features '\(spec)': name \(index + 1) of \(names.count) is empty; "
                                  + "separate feature names with single commas, e.g. --features tcp,icmp (`flowgen features` lists them)")
        }
        return names.joined(separator: ",")
    }

    /// The plan of `spec` in `catalog`; an unknown name is reported with the closest existing name.
    static func plan(_ spec: String, in catalog: FeatureCatalog, maxFlows: Int) throws -> Plan {
        do {
            return try catalog.plan(features: spec, maxFlows: maxFlows)
        } catch let FeatureError.unknownFeature(name, available) {
            guard let suggestion = closest(to: name, among: available + ["all"]) else {
                throw FeatureError.unknownFeature(name, available: available)
            }
            throw ValidationErrorText("unknown feature '\(name)'; did you mean '\(suggestion)'? (`flowgen features` lists them)")
        }
    }

    /// The name nearest to `name`, if it is near enough to be a typo (`NameSuggestion`).
    static func closest(to name: String, among names: [String]) -> String? {
        NameSuggestion.closest(to: name, among: names)
    }

    /// Edit distance of two names (`NameSuggestion.editDistance`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        NameSuggestion.editDistance(a, b)
    }
}
