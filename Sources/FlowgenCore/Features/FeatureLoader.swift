import Foundation
import Yams

/// A module folder that failed to load: its folder name (the module's name when it is well formed),
/// where it is, and why.
public struct BrokenModule: Sendable {
    /// The folder name.
    public var name: String
    /// The folder.
    public var directory: String
    /// What is wrong with it.
    public var error: FeatureError
}

/// Loads feature modules from folders: `DIR/<name>/feature.yaml` (+ optional update C file).
public struct FeatureLoader: Sendable {
    /// Directories searched, in order; built-in modules first, user paths after.
    public var searchPaths: [String]
    /// Who may own (and alone write) every folder and file read, and the folders above them; nil
    /// reads whatever is there (`--allow-unsafe-feature-path`). Module C is compiled into the
    /// kernel and, for replay, loaded into this process: a file another user can change is code
    /// they run as whoever runs flowgen.
    public var trust: PathTrust?

    /// Creates a loader over the given directories, trusting root and the invoking user by default.
    public init(searchPaths: [String], trust: PathTrust? = .invokingUser) {
        self.searchPaths = searchPaths
        self.trust = trust
    }

    /// Loads every module found in the search paths, sorted by name; the first broken module fails it.
    public func loadAll() throws -> [FeatureModule] {
        let found = try loadReportingBroken()
        if let first = found.broken.first { throw first.error }
        return found.modules
    }

    /// Loads every module found in the search paths, sorted by name, and the modules that failed to
    /// load with their errors, so that a broken module stops only the commands that select it. A
    /// search path that is missing or untrusted, and two modules of one name, still fail the call.
    public func loadReportingBroken() throws -> (modules: [FeatureModule], broken: [BrokenModule]) {
        var byName: [String: FeatureModule] = [:]
        var broken: [BrokenModule] = []
        for dir in searchPaths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw FeatureError.badFeaturePath(dir)
            }
            try Self.check(dir, .directory, trust)
            let entries = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            for entry in entries {
                let folder = (dir as NSString).appendingPathComponent(entry)
                let spec = (folder as NSString).appendingPathComponent("feature.yaml")
                guard FileManager.default.fileExists(atPath: spec) else { continue }
                let module: FeatureModule
                do {
                    try Self.check(folder, .directory, trust)
                    module = try Self.load(specPath: spec, trust: trust)
                } catch let error as FeatureError {
                    broken.append(BrokenModule(name: entry, directory: folder, error: error))
                    continue
                }
                if let previous = byName[module.name] {
                    throw FeatureError.duplicate(name: module.name, first: previous.directory, second: module.directory)
                }
                byName[module.name] = module
            }
        }
        return (byName.values.sorted { $0.name < $1.name }, broken)
    }

    /// Fails with `unsafeFeaturePath` when `trust` is given and does not trust `path`.
    static func check(_ path: String, _ kind: PathTrust.Kind, _ trust: PathTrust?) throws {
        guard let trust else { return }
        do {
            try trust.check(path, is: kind)
        } catch let untrusted as PathTrust.Untrusted {
            throw FeatureError.unsafeFeaturePath(path, reason: untrusted.description)
        }
    }

    /// Parses one feature.yaml, and the C files it names, after checking each with `trust`.
    public static func load(specPath: String, trust: PathTrust? = .invokingUser) throws -> FeatureModule {
        try check(specPath, .file, trust)
        let limit = FeatureLimit.specFileBytes
        guard let data = readFile(specPath, limit: limit) else {
            throw FeatureError.malformed(file: specPath, line: 1, message: "cannot read the file")
        }
        guard data.count <= limit.maximum else {
            throw limit.error("feature.yaml '\(specPath)' holds more than \(limit.maximum) bytes", unit: "bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw FeatureError.malformed(file: specPath, line: 1, message: "cannot read the file as UTF-8 text")
        }
        return try parse(yaml: text, specPath: specPath, trust: trust)
    }

    /// Up to `limit.maximum + 1` bytes of the file at `path` (nil if it cannot be opened): one
    /// byte more than allowed tells a file over the limit without reading a huge one whole, and
    /// without a size check that a growing file could pass.
    static func readFile(_ path: String, limit: FeatureLimit) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        // a directory opens but does not read: nil, as for a missing file
        do { return try handle.read(upToCount: limit.maximum + 1) ?? Data() } catch { return nil }
    }

    /// Parses feature.yaml text; `specPath` locates errors and the update file, read once `trust` trusts it.
    public static func parse(yaml: String, specPath: String, trust: PathTrust? = .invokingUser) throws -> FeatureModule {
        let limit = FeatureLimit.specFileBytes
        // callers that hand text rather than a file get the same bound before YAML parsing
        guard yaml.utf8.count <= limit.maximum else {
            throw limit.error("feature.yaml '\(specPath)' holds \(yaml.utf8.count) bytes", unit: "bytes")
        }
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw FeatureError.malformed(file: specPath, line: 1, message: "the file is empty; it needs at least `name:`")
            }
            node = composed
        } catch let error as YamlError {
            throw FeatureError.malformed(file: specPath, line: Self.line(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        }
        var reader = SpecReader(file: specPath, trust: trust)
        guard let map = node.mapping else {
            throw reader.error(node, "the top level must be a mapping (name:, summary:, fields:, ...)")
        }
        try reader.allowOnly(["name", "summary", "requires", "applies_to", "defines", "fields", "update", "helpers",
                              "always", "default", "in_all", "parameters"], in: map, what: "feature")
        let directory = (specPath as NSString).deletingLastPathComponent
        let name = try reader.identifier(map, "name", required: true)!
        let folder = (directory as NSString).lastPathComponent
        if folder != name {
            throw reader.error(map["name"]!, "module name '\(name)' must match its folder name '\(folder)'")
        }
        var module = FeatureModule(name: name, directory: directory)
        module.summary = try reader.string(map, "summary") ?? ""
        // `name:param=value` sets a parameter of a required module (a preset's choice)
        for entry in try reader.stringList(map, "requires") {
            let parsed: ParameterizedName
            do { parsed = try ParameterizedName(entry) } catch let e as ParameterError { throw reader.error(map["requires"]!, e.description) }
            module.requires.append(parsed.name)
            if !parsed.settings.isEmpty {
                module.requiredSettings[parsed.name] = Dictionary(parsed.settings, uniquingKeysWith: { _, b in b })
            }
        }
        module.defines = try reader.stringList(map, "defines")
        for define in module.defines where !Self.isIdentifier(define) {
            throw reader.error(map["defines"]!, "define '\(define)' is not a C identifier")
        }
        module.appliesTo = try reader.stringList(map, "applies_to").map { raw in
            guard let cls = PacketClass(rawValue: raw) else {
                throw reader.error(map["applies_to"]!, "unknown packet class '\(raw)'; use \(PacketClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return cls
        }
        module.always = try reader.bool(map, "always") ?? false
        module.enabledByDefault = try reader.bool(map, "default") ?? false
        module.inAll = try reader.bool(map, "in_all") ?? true
        // before the fields, whose counts may name them (`bins: $n`)
        if let parametersNode = map["parameters"] {
            module.parameters = try reader.parameters(parametersNode)
            reader.parameters = module.parameters
            module.parameterValues = Dictionary(uniqueKeysWithValues: module.parameters.map { ($0.name, $0.defaultValue) })
        }
        if let fieldsNode = map["fields"] {
            guard let seq = fieldsNode.sequence else { throw reader.error(fieldsNode, "`fields` must be a list") }
            // before parsing any field: a module of 20,000 fields should fail now, not in clang
            let limit = FeatureLimit.fieldsPerModule
            if seq.count > limit.maximum {
                throw limit.error("feature '\(name)' (\(specPath):\(fieldsNode.mark?.line ?? 1)) declares \(seq.count) fields", unit: "fields per module")
            }
            var seen = Set<String>()
            for item in seq {
                if item.mapping?["sequence"] != nil {
                    let sequence = try reader.sequenceField(item)
                    if !seen.insert(sequence.name).inserted {
                        throw reader.error(item, "field '\(sequence.name)' is declared twice")
                    }
                    module.sequences.append(sequence)
                    continue
                }
                if item.mapping?["derive"] != nil {
                    let derived = try reader.derivedField(item)
                    if !seen.insert(derived.name).inserted {
                        throw reader.error(item, "field '\(derived.name)' is declared twice")
                    }
                    module.derived.append(derived)
                    continue
                }
                let field = try reader.field(item)
                if !seen.insert(field.name).inserted {
                    throw reader.error(item, "field '\(field.name)' is declared twice")
                }
                module.fields.append(field)
            }
        }
        module.update = try reader.cFile(map, "update", directory: directory)
        module.helpers = try reader.cFile(map, "helpers", directory: directory)
        // the module's C uses the module API only (Templates/module.h)
        if let body = module.update { try ModuleSource.check(body, .body, module: module) }
        if let helpers = module.helpers { try ModuleSource.check(helpers, .helpers, module: module) }
        for field in module.fields {
            guard let value = field.value else { continue }
            let at = field.location.split(separator: ":", omittingEmptySubsequences: false)
            try ModuleSource.check(SourceText(text: value, file: at.dropLast().joined(separator: ":"), line: Int(at.last ?? "1") ?? 1), .expression, module: module)
        }
        let updatedByBody = module.update != nil
        for field in module.fields where field.value == nil && !updatedByBody {
            throw FeatureError.malformed(file: specPath, line: Int(field.location.split(separator: ":").last ?? "1") ?? 1,
                                         message: "field '\(field.name)' has no `value:` and the module has no `update:` body that sets it")
        }
        // a module's own names against each other and the built-in columns; the planner checks them
        // again against the other selected modules
        try OutputNames.check([module])
        return module
    }

    /// Whether `s` is a C identifier.
    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII) else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _): return mark.line
        default: return 1
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _): return problem
        default: return "\(error)"
        }
    }
}

/// Typed reads from a composed YAML node with errors that carry file:line.
struct SpecReader {
    let file: String
    /// Checks each C file before it is read (nil: no check).
    var trust: PathTrust?
    /// The module's parameters, which counts may name (`bins: $n`).
    var parameters: [ModuleParameter] = []

    func error(_ node: Node, _ message: String) -> FeatureError {
        .malformed(file: file, line: node.mark?.line ?? 1, message: message)
    }

    func allowOnly(_ keys: Set<String>, in map: Node.Mapping, what: String) throws {
        for (key, _) in map {
            guard let k = key.string, keys.contains(k) else {
                throw error(key, "unknown \(what) key '\(key.string ?? "?")'; allowed: \(keys.sorted().joined(separator: ", "))")
            }
        }
    }

    func string(_ map: Node.Mapping, _ key: String) throws -> String? {
        guard let node = map[key] else { return nil }
        guard node.scalar != nil, let s = node.string else { throw error(node, "`\(key)` must be a string") }
        try plainText(s, node, key)
        return s
    }

    /// Refuses control characters in text a module declares: its keys end up in generated C
    /// (where a newline starts a preprocessor line), in `#line` file names and on terminals
    /// (`flowgen features`, where escape sequences would act).
    func plainText(_ s: String, _ node: Node, _ key: String) throws {
        if let c = s.unicodeScalars.first(where: Self.isControl) {
            throw error(node, "`\(key)` holds the control character U+\(String(format: "%04X", c.value)); write it on one line without control characters")
        }
    }

    /// C0 and C1 control characters and DEL.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value)
    }

    func identifier(_ map: Node.Mapping, _ key: String, required: Bool) throws -> String? {
        guard let s = try string(map, key) else {
            if required { throw FeatureError.malformed(file: file, line: map.mark?.line ?? 1, message: "missing `\(key):`") }
            return nil
        }
        guard FeatureLoader.isIdentifier(s) else { throw error(map[key]!, "`\(key)` '\(s)' must be a C identifier (letters, digits, _)") }
        return s
    }

    func bool(_ map: Node.Mapping, _ key: String) throws -> Bool? {
        guard let node = map[key] else { return nil }
        guard let b = node.bool else { throw error(node, "`\(key)` must be true or false") }
        return b
    }

    func stringList(_ map: Node.Mapping, _ key: String) throws -> [String] {
        guard let node = map[key] else { return [] }
        if node.scalar != nil, let s = node.string {
            try plainText(s, node, key)
            return [s]
        }
        guard let seq = node.sequence else { throw error(node, "`\(key)` must be a list of strings") }
        return try seq.map { item in
            guard item.scalar != nil, let s = item.string else { throw error(item, "`\(key)` entries must be strings") }
            try plainText(s, item, key)
            return s
        }
    }

    func field(_ node: Node) throws -> FieldSpec {
        guard let map = node.mapping else { throw error(node, "each field must be a mapping with name:, type:, aggregation:, ...") }
        try allowOnly(["name", "type", "aggregation", "bins", "value", "initial", "json", "ipfix", "unit", "none", "export"], in: map, what: "field")
        let name = try identifier(map, "name", required: true)!
        if name.hasPrefix(FieldSampling.reservedPrefix) {
            throw error(map["name"]!, "field '\(name)': names starting with '\(FieldSampling.reservedPrefix)' are reserved for flowgen's own record members; rename the field")
        }
        let typeName = try string(map, "type") ?? "u64"
        guard let type = CType(rawValue: typeName) else {
            throw error(map["type"]!, "field '\(name)': unknown type '\(typeName)'; use u8, u16, u32 or u64")
        }
        guard let aggName = try string(map, "aggregation") else {
            throw error(node, "field '\(name)': missing `aggregation:` (sum, min, max, or, first, last, histogram)")
        }
        let aggregation: Aggregation
        var count = 1
        var binsExpression: String?
        switch aggName {
        case "sum": aggregation = .sum
        case "min": aggregation = .min
        case "max": aggregation = .max
        case "or": aggregation = .or
        case "first": aggregation = .first
        case "last": aggregation = .last
        case "histogram":
            let limit = FeatureLimit.histogramBins
            guard let binsNode = map["bins"],
                  let (bins, expression) = try self.count(binsNode, parameters: parameters, what: "field '\(name)': `bins`", range: 2...limit.maximum) else {
                throw error(map["aggregation"]!, "field '\(name)': a histogram needs `bins:` between 2 and \(limit.maximum) (limit: \(limit.name)), or a parameter ($n)")
            }
            if expression != nil, map["json"] != nil {
                throw error(map["json"]!, "field '\(name)': bins set by a parameter (\(expression!)) cannot have json: names, whose number is fixed; declare it `export: false` (module state) or write a number of bins")
            }
            aggregation = .histogram(bins: bins)
            count = bins
            binsExpression = expression
        default:
            throw error(map["aggregation"]!, "field '\(name)': unknown aggregation '\(aggName)'; use sum, min, max, or, first, last or histogram")
        }
        if map["bins"] != nil, case .histogram = aggregation {} else if let b = map["bins"] {
            throw error(b, "field '\(name)': `bins:` only goes with aggregation histogram")
        }
        if aggregation.isAtomic && type.size < 4 {
            throw error(map["type"] ?? node, "field '\(name)': aggregation \(aggregation.name) is updated atomically and needs type u32 or u64 (BPF atomics are 32/64-bit)")
        }
        if aggregation == .first, map["value"] == nil, map["initial"] == nil {
            throw error(node, "field '\(name)': aggregation first needs `value:` (taken from the flow's first packet)")
        }
        var spec = FieldSpec(name: name, type: type, count: count, aggregation: aggregation,
                             location: "\(file):\(node.mark?.line ?? 1)")
        spec.binsExpression = binsExpression
        spec.value = try cExpression(map, "value")
        spec.initial = try number(map, "initial", field: name, type: type)
        if let unitName = try string(map, "unit") {
            guard let unit = FieldUnit(rawValue: unitName) else {
                throw error(map["unit"]!, "field '\(name)': unknown unit '\(unitName)'; use \(FieldUnit.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            spec.unit = unit
        }
        spec.none = try number(map, "none", field: name, type: type)
        if let jsonNode = map["json"] {
            spec.json = try names(jsonNode, field: name, count: count)
        }
        // exported or module state is declared, not inferred from a missing `json:`
        switch (map["json"], try bool(map, "export")) {
        case (nil, nil):
            throw error(node, "field '\(name)': say whether it is exported: add `json: { forward: ..., reverse: ..., combined: ... }` (output names) to export it, or `export: false` to keep it as module state that is never shown")
        case (nil, true?):
            throw error(map["export"]!, "field '\(name)': `export: true` needs `json:` output names; add them, or write `export: false` for module state")
        case (_?, false?):
            throw error(map["export"]!, "field '\(name)': `export: false` (module state) and `json:` output names contradict each other; remove one of them")
        default:
            break
        }
        if map["json"] == nil, let ipfixNode = map["ipfix"] {
            throw error(ipfixNode, "field '\(name)': `ipfix:` of a field that is not exported (`export: false`) would never be sent; remove it, or export the field with `json:`")
        }
        if let ipfixNode = map["ipfix"] {
            spec.ipfix = try ipfix(ipfixNode, field: name)
        }
        return spec
    }

    /// A number of the field's type under `key` (`initial:`, `none:`): decimal or 0x hex, read the
    /// same way for both, so a start value is what it says rather than C text pasted into the program.
    func number(_ map: Node.Mapping, _ key: String, field: String, type: CType) throws -> UInt64? {
        guard let node = map[key] else { return nil }
        let text = node.scalar != nil ? (node.string ?? "") : ""
        let lower = text.lowercased()
        let hex = lower.hasPrefix("0x")
        let digits = hex ? lower.dropFirst(2) : Substring(lower)
        // digits only: Swift's integer parsing would also take a sign
        let parsed = digits.allSatisfy({ $0.isHexDigit && (hex || $0.isNumber) }) ? UInt64(digits, radix: hex ? 16 : 10) : nil
        guard let value = parsed else {
            throw error(node, "field '\(field)': `\(key)` must be a number (decimal or 0x hex) of the field's type \(type.rawValue), not C: got \(FlowFormatter.jsonString(text)); write e.g. \(type.max) or 0x\(String(type.max, radix: 16))")
        }
        guard value <= type.max else {
            throw error(node, "field '\(field)': `\(key)` \(text) does not fit the field's type \(type.rawValue) (0 to \(type.max)); use a smaller value or a wider type")
        }
        return value
    }

    /// A C file named by `key`, read from the module's folder.
    func cFile(_ map: Node.Mapping, _ key: String, directory: String) throws -> SourceText? {
        guard let node = map[key] else { return nil }
        guard let file = try string(map, key), !file.isEmpty, !file.contains(".."), !file.hasPrefix("/") else {
            throw error(node, "`\(key)` must name a C file in the module's folder")
        }
        let path = (directory as NSString).appendingPathComponent(file)
        // the path goes into `#line N "path"` of the generated C, where a quote or backslash would
        // end or escape the string and a control character break the line; the folder is a
        // feature path the user chose, so the whole path is checked, not only the file name
        if let bad = path.unicodeScalars.first(where: { $0 == "\"" || $0 == "\\" || Self.isControl($0) }) {
            throw error(node, "\(key) file '\(file)': its path \(FlowFormatter.jsonString(path)) holds \(FlowFormatter.jsonString(String(bad))), which a C `#line` directive cannot carry; move the module")
        }
        if FileManager.default.fileExists(atPath: path) { try FeatureLoader.check(path, .file, trust) }
        let limit = FeatureLimit.cFileBytes
        guard let data = FeatureLoader.readFile(path, limit: limit) else {
            throw error(node, "\(key) file '\(file)' not found in \(directory)")
        }
        guard data.count <= limit.maximum else {
            throw limit.error("\(self.file):\(node.mark?.line ?? 1): \(key) file '\(path)' holds more than \(limit.maximum) bytes", unit: "bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw error(node, "\(key) file '\(file)' is not UTF-8 text")
        }
        return SourceText(text: text, file: path, line: 1)
    }

    /// A `value:` C expression. It is pasted into generated C inside a statement and
    /// a macro call, so it must stay one expression on one line: no `;` or braces (statements), no
    /// newline or other control character (a newline followed by `#` is a preprocessor directive,
    /// a backslash-newline joins lines), no `#` and no comments (`//` would comment out the rest
    /// of the generated line, `/*` could swallow the lines after it).
    func cExpression(_ map: Node.Mapping, _ key: String) throws -> String? {
        guard let node = map[key] else { return nil }
        guard node.scalar != nil, let s = node.string, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(node, "`\(key)` must be a C expression")
        }
        let limit = FeatureLimit.expressionLength
        if s.count > limit.maximum {
            throw error(node, "`\(key)` is \(s.count) characters long; at most \(limit.maximum) (limit: \(limit.name)); put long code in the update file")
        }
        if s.contains(";") || s.contains("{") || s.contains("}") {
            throw error(node, "`\(key)` must be a single C expression (no ';' or braces); put statements in the update file")
        }
        if s.unicodeScalars.contains(where: Self.isControl) {
            throw error(node, "`\(key)` must be a C expression on one line, without newlines or other control characters")
        }
        if s.contains("#") || s.contains("//") || s.contains("/*") || s.hasSuffix("\\") {
            throw error(node, "`\(key)` must be a plain C expression: no '#', no comments ('//', '/*') and no trailing backslash; put preprocessor code in the update file")
        }
        return s
    }

    func names(_ node: Node, field: String, count: Int) throws -> DirectionalNames {
        guard let map = node.mapping else {
            throw error(node, "field '\(field)': `json` must be a mapping with forward:, reverse: and/or combined:")
        }
        try allowOnly(["forward", "reverse", "combined"], in: map, what: "json")
        func list(_ key: String) throws -> [String] {
            guard let n = map[key] else { return [] }
            let values: [String]
            // each name is checked where it is written, so the error points at its own line
            func checked(_ item: Node) throws -> String {
                guard item.scalar != nil, let s = item.string else { throw error(item, "json names must be strings") }
                guard OutputNames.isValid(s) else {
                    throw error(item, "field '\(field)': json name \(FlowFormatter.jsonString(s)) is not allowed; output names are \(OutputNames.rule)")
                }
                return s
            }
            if n.scalar != nil { values = [try checked(n)] }
            else if let seq = n.sequence { values = try seq.map(checked) }
            else { throw error(n, "json `\(key)` must be a name or a list of names") }
            if values.count != count {
                throw error(n, "field '\(field)': json `\(key)` needs \(count) name\(count == 1 ? "" : "s") (one per element), got \(values.count)")
            }
            return values
        }
        return DirectionalNames(forward: try list("forward"), reverse: try list("reverse"), combined: try list("combined"))
    }

    func ipfix(_ node: Node, field: String) throws -> IPFIXElement {
        guard let map = node.mapping else { throw error(node, "field '\(field)': `ipfix` must be a mapping with id:, and optionally enterprise:, name:") }
        try allowOnly(["id", "enterprise", "name"], in: map, what: "ipfix")
        guard let idNode = map["id"], let id = idNode.int, id > 0, id < 32768 else {
            throw error(node, "field '\(field)': ipfix `id` must be a number from 1 to 32767")
        }
        let enterprise = map["enterprise"]?.int ?? 0
        guard enterprise >= 0, enterprise <= Int(UInt32.max) else { throw error(map["enterprise"]!, "ipfix `enterprise` must be a 32-bit number") }
        return IPFIXElement(id: UInt16(id), enterprise: UInt32(enterprise), name: try string(map, "name") ?? "")
    }
}
