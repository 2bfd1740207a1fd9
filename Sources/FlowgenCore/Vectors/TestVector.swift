import Foundation
import Yams

/// One test vector of a feature module (`<module>/tests/<name>.yaml`): input packets, written out
/// in the file or taken from a capture next to it, and the values the module's fields must have in
/// each flow those packets make. `flowgen test` replays the packets through a build of the module
/// and compares; docs/modules.md describes the format.
public struct TestVector: Sendable {
    /// Where a vector's packets come from.
    public enum Input: Sendable {
        /// Packets described in the file, already built as Ethernet frames with their capture times (ns).
        case packets([(timeNs: UInt64, frame: [UInt8])])
        /// A pcap or pcapng file in the module's `tests/` folder.
        case capture(String)
    }

    /// The file's name without `.yaml`, shown in reports.
    public var name: String
    /// The vector file.
    public var file: String
    /// One line saying what the vector checks (optional `description:`).
    public var description: String
    /// Modules selected besides the one under test (`features:`), e.g. `tcp` for its flags.
    public var features: [String]
    /// Parameters of the module under test (`parameters: { n: 20 }`), as text.
    public var parameters: [(name: String, value: String)] = []
    /// The packets.
    public var input: Input
    /// The flows the packets must make, in the order they are matched.
    public var flows: [ExpectedFlow]

    /// Unix time (s) of `t: 0` when the file does not say (`start:`): 2023-11-14 22:13:20 UTC.
    public static let defaultStart: UInt64 = 1_700_000_000
}

/// What one flow of a vector must hold.
public struct ExpectedFlow: Sendable {
    /// Key columns the flow's initiator direction must have (`key:`); empty matches the next flow.
    public var key: [String: String]
    /// Expected values per section (`forward`, `reverse`, `combined`), by field name, in file order.
    public var values: [(section: VectorSection, field: String, value: ExpectedValue, line: Int)]
    /// Line of the entry, for errors.
    public var line: Int
}

/// Which side of a biflow an expectation reads.
public enum VectorSection: String, Sendable, CaseIterable {
    /// The initiator's direction (the flow's first packet).
    case forward
    /// The responder's direction.
    case reverse
    /// Both directions as the collector combines them.
    case combined
}

/// An expected value as written in a vector.
public enum ExpectedValue: Sendable, Equatable, CustomStringConvertible {
    /// An unsigned integer.
    case number(UInt64)
    /// A real number (`mean`, `stddev` fields), compared to 1e-9 relative.
    case real(Double)
    /// No value: the output leaves the field out.
    case absent
    /// One value per element (histogram bins).
    case elements([ExpectedValue])
    /// A sequence field's three arrays.
    case sequence(direction: [Int64], size: [Int64], gap: [Int64])

    /// The value as a vector file writes it.
    public var description: String {
        switch self {
        case .number(let n): return String(n)
        case .real(let d): return "\(d)"
        case .absent: return "absent"
        case .elements(let e): return "[" + e.map(\.description).joined(separator: ", ") + "]"
        case let .sequence(d, s, g):
            return "{direction: \(d), size: \(s), gap: \(g)}"
        }
    }
}

/// A vector file that cannot be used, with the file and line to fix.
public struct VectorError: Error, CustomStringConvertible, Equatable {
    /// The vector file.
    public var file: String
    /// The line (1-based).
    public var line: Int
    /// What is wrong and what to write instead.
    public var message: String

    /// Creates an error.
    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: error: message`, as compilers and `FeatureError.malformed` write it.
    public var description: String { "\(file):\(line): error: \(message)" }
}

extension TestVector {
    /// Files bigger than this are refused before parsing (a vector is a few packets).
    static let maximumFileBytes = 1 << 20
    /// Packets a described vector may hold.
    static let maximumPackets = 10_000

    /// The vector files of a module folder: `tests/*.yaml`, sorted by name (none: `[]`).
    public static func files(inModule directory: String) -> [String] {
        let tests = (directory as NSString).appendingPathComponent("tests")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tests)) ?? []
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (tests as NSString).appendingPathComponent($0) }
    }

    /// Reads and parses the vector file at `path`.
    public static func load(_ path: String) throws -> TestVector {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw VectorError(file: path, line: 1, message: "cannot read the file")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumFileBytes + 1)) ?? nil
        guard let data, data.count <= maximumFileBytes else {
            throw VectorError(file: path, line: 1, message: data == nil ? "cannot read the file" : "holds more than \(maximumFileBytes) bytes; a vector is a few packets (put many in a capture file)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VectorError(file: path, line: 1, message: "cannot read the file as UTF-8 text")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses vector text; `file` names errors and locates `capture:` files.
    public static func parse(yaml: String, file: String) throws -> TestVector {
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw VectorError(file: file, line: 1, message: "the file is empty; it needs `packets:` (or `capture:`) and `expect:`")
            }
            node = composed
        } catch let error as YamlError {
            throw VectorError(file: file, line: FeatureLoader.line(of: error), message: "not valid YAML: \(FeatureLoader.problem(of: error))")
        }
        let r = VectorReader(file: file)
        guard let map = node.mapping else { throw r.error(node, "the top level must be a mapping (packets:, expect:, ...)") }
        try r.allowOnly(["description", "features", "parameters", "start", "flow", "packets", "capture", "expect"], in: map, what: "vector")
        let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let description = try map["description"].map { try r.text($0, "description") } ?? ""
        var features: [String] = []
        if let f = map["features"] {
            let items = f.sequence.map(Array.init) ?? [f]
            features = try items.map { item in
                let s = try r.text(item, "features")
                // `-name` leaves out a module that is on by default (ipv4, ipv6), `name:p=v` sets a
                // parameter, as in --features
                let entry = try? ParameterizedName(s.hasPrefix("-") ? String(s.dropFirst()) : s)
                guard let entry, FeatureLoader.isIdentifier(entry.name) else {
                    throw r.error(item, "`features` entry '\(s)' is not a module name (or -name to leave a default one out, name:param=value to set a parameter)")
                }
                return s
            }
        }
        var parameters: [(name: String, value: String)] = []
        if let p = map["parameters"] {
            guard let pm = p.mapping else { throw r.error(p, "`parameters` must map the module's parameter names to values, e.g. { n: 20 }") }
            for (k, v) in pm {
                guard let name = k.string, FeatureLoader.isIdentifier(name) else { throw r.error(k, "'\(k.string ?? "?")' is not a parameter name") }
                let value = try v.sequence.map { $0.compactMap(\.string).joined(separator: "/") } ?? r.text(v, name)
                guard !value.isEmpty, !value.contains(","), !value.contains(":") else { throw r.error(v, "parameter \(name): '\(value)' is not a value") }
                parameters.append((name, value))
            }
        }
        let input: Input
        switch (map["packets"], map["capture"]) {
        case (nil, nil):
            throw r.error(node, "no packets: give `packets:` (a list) or `capture:` (a pcap/pcapng file in the same folder)")
        case (.some, .some):
            throw r.error(map["capture"]!, "give either `packets:` or `capture:`, not both")
        case let (nil, capture?):
            let name = try r.text(capture, "capture")
            guard !name.isEmpty, !name.contains("/"), name != "..", name != "." else {
                throw r.error(capture, "`capture` must name a file in the vector's own folder (no '/')")
            }
            input = .capture(((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name))
        case let (packets?, nil):
            if map["flow"] == nil { throw r.error(packets, "described packets need `flow:` (src, dst, proto, sport, dport of the initiator)") }
            let start = try map["start"].map { try r.unsigned($0, "start", max: 4_000_000_000) } ?? defaultStart
            let flow = try PacketDescription.Flow(map["flow"]!, r)
            guard let list = packets.sequence, !list.isEmpty else { throw r.error(packets, "`packets` must be a non-empty list") }
            guard list.count <= maximumPackets else { throw r.error(packets, "\(list.count) packets; at most \(maximumPackets) (use a capture file)") }
            var frames: [(timeNs: UInt64, frame: [UInt8])] = []
            var previous: UInt64 = 0
            for item in list {
                let packet = try PacketDescription(item, flow: flow, r)
                if packet.timeNs < previous {
                    throw r.error(item, "t: \(Double(packet.timeNs) / 1e9) s is before the packet above it; list packets in capture order")
                }
                previous = packet.timeNs
                frames.append((start * 1_000_000_000 + packet.timeNs, try packet.frame(r, item)))
            }
            input = .packets(frames)
        }
        if map["start"] != nil, map["capture"] != nil { throw r.error(map["start"]!, "`start` applies to `packets:`; a capture has its own times") }
        if map["flow"] != nil, map["capture"] != nil { throw r.error(map["flow"]!, "`flow` applies to `packets:`; a capture has its own addresses") }
        guard let expectNode = map["expect"] else {
            throw r.error(node, "missing `expect:`: the values the module's fields must have (see docs/modules.md, \"Test vectors\")")
        }
        let entries = expectNode.sequence.map(Array.init) ?? [expectNode]
        let flows = try entries.map { try r.expectedFlow($0) }
        var vector = TestVector(name: name, file: file, description: description, features: features, input: input, flows: flows)
        vector.parameters = parameters
        return vector
    }
}

/// Typed reads of a vector's YAML, with errors that carry file:line.
struct VectorReader {
    let file: String

    func error(_ node: Node, _ message: String) -> VectorError {
        VectorError(file: file, line: node.mark?.line ?? 1, message: message)
    }

    func allowOnly(_ keys: Set<String>, in map: Node.Mapping, what: String) throws {
        for (key, _) in map {
            guard let k = key.string, keys.contains(k) else {
                throw error(key, "unknown \(what) key '\(key.string ?? "?")'; allowed: \(keys.sorted().joined(separator: ", "))")
            }
        }
    }

    /// A scalar as text, refused with control characters (it reaches terminals in reports).
    func text(_ node: Node, _ key: String) throws -> String {
        guard node.scalar != nil, let s = node.string else { throw error(node, "`\(key)` must be a single value") }
        if let c = s.unicodeScalars.first(where: SpecReader.isControl), !(key == "text" && (c == "\n" || c == "\r" || c == "\t")) {
            throw error(node, "`\(key)` holds the control character U+\(String(format: "%04X", c.value))")
        }
        return s
    }

    /// An unsigned integer (decimal or 0x hex) of at most `max`.
    func unsigned(_ node: Node, _ key: String, max: UInt64) throws -> UInt64 {
        let s = try text(node, key)
        guard let v = Self.parseUnsigned(s), v <= max else {
            throw error(node, "`\(key)` must be a whole number from 0 to \(max) (decimal or 0x hex), got '\(s)'")
        }
        return v
    }

    static func parseUnsigned(_ s: String) -> UInt64? {
        let t = s.replacingOccurrences(of: "_", with: "")
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        return UInt64(t)
    }

    /// One `expect:` entry.
    func expectedFlow(_ node: Node) throws -> ExpectedFlow {
        guard let map = node.mapping else { throw error(node, "each `expect:` entry must be a mapping with forward:, reverse: and/or combined:") }
        try allowOnly(["key", "forward", "reverse", "combined"], in: map, what: "expect")
        var key: [String: String] = [:]
        if let k = map["key"] {
            guard let km = k.mapping else { throw error(k, "`key` must be a mapping (src, dst, sport, dport, proto)") }
            try allowOnly(["src", "dst", "sport", "dport", "proto"], in: km, what: "key")
            for (name, value) in km { key[name.string!] = try text(value, name.string!) }
        }
        var values: [(section: VectorSection, field: String, value: ExpectedValue, line: Int)] = []
        for section in VectorSection.allCases {
            guard let s = map[section.rawValue] else { continue }
            guard let sm = s.mapping else { throw error(s, "`\(section.rawValue)` must map field names to values") }
            for (name, value) in sm {
                guard let field = name.string, FeatureLoader.isIdentifier(field) else {
                    throw error(name, "'\(name.string ?? "?")' is not a field name (the `name:` of a field in feature.yaml)")
                }
                values.append((section, field, try expected(value, field), value.mark?.line ?? 1))
            }
        }
        if values.isEmpty { throw error(node, "this `expect:` entry checks nothing: give forward:, reverse: or combined: values") }
        return ExpectedFlow(key: key, values: values, line: node.mark?.line ?? 1)
    }

    /// A value: a number, `absent`, a real, a list (one per histogram bin) or a sequence's arrays.
    func expected(_ node: Node, _ field: String) throws -> ExpectedValue {
        if let list = node.sequence {
            return .elements(try list.map { item in
                let v = try expected(item, field)
                switch v {
                case .number, .absent, .real: return v
                default: throw error(item, "field '\(field)': a list holds one number per element")
                }
            })
        }
        if let map = node.mapping {
            try allowOnly(["direction", "size", "gap"], in: map, what: "sequence")
            func ints(_ key: String) throws -> [Int64] {
                guard let n = map[key], let seq = n.sequence else { throw error(node, "field '\(field)': a sequence needs `\(key):` as a list of integers") }
                return try seq.map { item in
                    guard let s = item.string, let v = Int64(s) else { throw error(item, "field '\(field)': `\(key)` holds integers (-1 pads)") }
                    return v
                }
            }
            return .sequence(direction: try ints("direction"), size: try ints("size"), gap: try ints("gap"))
        }
        let s = try text(node, field)
        if s == "absent" { return .absent }
        if let v = Self.parseUnsigned(s) { return .number(v) }
        if s.contains(".") || s.lowercased().contains("e"), let d = Double(s), d.isFinite { return .real(d) }
        throw error(node, "field '\(field)': '\(s)' is not a value; write a whole number (decimal or 0x hex), a real (53.5), `absent`, or a list of these for a histogram")
    }
}
