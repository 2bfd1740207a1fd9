/// The nearest existing name to a misspelt one, for "did you mean" in errors (feature names,
/// fields in test vectors): most unknown names are typos of a real one.
public enum NameSuggestion {
    /// The name nearest to `name` by edit distance (a swap of neighbours counts as one edit), if
    /// it is near enough to be a typo: at most 2 edits, and fewer than half of `name`'s letters.
    public static func closest(to name: String, among names: [String]) -> String? {
        let limit = min(2, max(1, name.count / 2))
        let scored = names.map { ($0, editDistance(name.lowercased(), $0)) }.filter { $0.1 <= limit }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
    /// of adjacent characters (`tpc` → `tcp` is one edit, not two).
    public static func editDistance(_ a: String, _ b: String) -> Int {
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
