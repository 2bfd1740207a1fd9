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

    /// The name nearest to `name` by edit distance (a swap of neighbours counts as one edit), if
    /// it is near enough to be a typo: at most 2 edits, and fewer than half of `name`'s letters.
    static func closest(to name: String, among names: [String]) -> String? {
        let limit = min(2, max(1, name.count / 2))
        let scored = names.map { ($0, editDistance(name.lowercased(), $0)) }.filter { $0.1 <= limit }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
    /// of adjacent characters (`tpc` → `tcp` is one edit, not two).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}
