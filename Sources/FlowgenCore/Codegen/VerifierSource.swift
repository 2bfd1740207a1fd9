/// Which module a verifier log points at. The log quotes the source line of each instruction it
/// walked (`; FG_SET(x, p[100]); @ update.bpf.c:3`, from the BTF line info of the `#line`
/// directives the generator wraps every body and helpers file in); the kernel prints only the
/// file's base name, which every module's body shares, so the quoted text is matched against the
/// line of each selected module's files to name the module.
public enum VerifierSource {
    /// A module file line the verifier walked.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        /// The module.
        public var module: String
        /// Its file, relative to the feature path (`fm_bad/update.bpf.c`).
        public var file: String
        /// 1-based line in that file.
        public var line: Int
        /// The source text of the line.
        public var text: String

        /// `module 'fm_bad' (fm_bad/update.bpf.c:3: FG_SET(x, p[100]);)`.
        public var description: String { "module '\(module)' (\(file):\(line): \(text))" }
    }

    /// The last line of a module's body or helpers that the log shows, nil when the log shows
    /// none (the refusal is in flowgen's own code, or the log has no line info).
    public static func locate(log: String, plan: Plan) -> Location? {
        var sources: [(module: FeatureModule, source: SourceText, lines: [Substring])] = []
        for module in plan.features {
            for source in [module.update, module.helpers].compactMap({ $0 }) {
                sources.append((module, source, source.text.split(separator: "\n", omittingEmptySubsequences: false)))
            }
        }
        guard !sources.isEmpty else { return nil }
        for raw in log.split(separator: "\n").reversed() {
            let line = raw.trimmingSpaces()
            guard line.hasPrefix(";"), let at = line.range(of: " @ ", options: .backwards) else { continue }
            let text = line[line.index(after: line.startIndex)..<at.lowerBound].trimmingSpaces()
            let place = line[at.upperBound...]
            guard let colon = place.lastIndex(of: ":"), let number = Int(place[place.index(after: colon)...]) else { continue }
            let base = String(place[..<colon])
            for (module, source, lines) in sources where source.file.split(separator: "/").last.map(String.init) == base {
                let index = number - source.line
                guard index >= 0, index < lines.count, lines[index].trimmingSpaces() == text else { continue }
                let folder = module.directory.split(separator: "/").last.map(String.init) ?? module.name
                return Location(module: module.name, file: folder + "/" + base, line: number, text: String(text))
            }
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
