import Foundation

/// A configuration file of `key = value` lines whose keys are a command's long option names
/// (`interface = eth0`, `idle-timeout = 30`, `verbose = true`), turned into command-line arguments.
///
/// The format is deliberately the smallest that covers every option: `#` starts a comment line,
/// blank lines are ignored, a key may repeat (repeatable options such as `interface`), a value may
/// be wrapped in double or single quotes, and a flag takes `true`/`false` (also yes/no, on/off, 1/0).
/// `_` in a key reads as `-`, so `idle_timeout` works too. Lines end at LF or CRLF; a key or value
/// holding any other control character (a NUL, a lone CR, ESC, DEL, a tab between words) is refused. Options given on the command line win:
/// every line for an option (or for an option of the same exclusive group, like `interface` and
/// `all`) is dropped when the command line sets it.
public struct ConfigFile: Sendable {
    /// One `key = value` line.
    public struct Entry: Sendable, Equatable {
        /// The option's long name, `_` turned into `-`.
        public var key: String
        /// The value with surrounding quotes removed.
        public var value: String
        /// 1-based line number, for error messages.
        public var line: Int

        /// Creates an entry.
        public init(key: String, value: String, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// What the command accepts, so keys can be checked and flags told from options.
    public struct Option: Sendable, Equatable {
        /// Long name without the dashes.
        public var long: String
        /// Short name, if any (`i` for `-i`).
        public var short: Character?
        /// True for a flag (no value).
        public var isFlag: Bool

        /// Creates an option description.
        public init(long: String, short: Character? = nil, isFlag: Bool) {
            self.long = long
            self.short = short
            self.isFlag = isFlag
        }
    }

    /// Where the settings came from (for messages).
    public let path: String
    /// The settings in file order.
    public let entries: [Entry]

    /// Reads and parses `path`.
    public init(path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it is not readable UTF-8 text" : "it does not exist"
            throw ConfigError.unreadable(path: path, reason: reason)
        }
        try self.init(text: text, path: path)
    }

    /// Parses `text`; `path` only names it in errors.
    public init(text: String, path: String) throws {
        self.path = path
        var entries: [Entry] = []
        // lines end at LF or CRLF ("\r\n" is one Character, so it must be named as a separator of its own);
        // any other CR is a control character inside the line
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError.syntax(path: path, line: number, text: line)
            }
            let rawKey = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            // checked before the key is normalised or the value used: a NUL would cut the value short
            // where C reads it, and other control characters would reach logs, state files and terminals
            if let scalar = ControlCharacters.first(in: rawKey) {
                throw ConfigError.controlCharacter(path: path, line: number, key: nil, character: scalar)
            }
            var key = rawKey.lowercased().replacingOccurrences(of: "_", with: "-")
            while key.hasPrefix("-") { key.removeFirst() }
            guard !key.isEmpty else { throw ConfigError.syntax(path: path, line: number, text: line) }
            if let scalar = ControlCharacters.first(in: value) {
                throw ConfigError.controlCharacter(path: path, line: number, key: key, character: scalar)
            }
            entries.append(Entry(key: key, value: value, line: number))
        }
        self.entries = entries
    }

    /// The arguments the file contributes, placed before `commandLine` so the command line also
    /// wins for single-valued options; settings the command line gives (or any option of the same
    /// `exclusiveGroups` group) are left out. Unknown keys, `config` itself and bad flag values are errors.
    public func arguments(options: [Option], commandLine: [String], exclusiveGroups: [[String]] = []) throws -> [String] {
        let byLong = Dictionary(options.map { ($0.long, $0) }, uniquingKeysWith: { a, _ in a })
        let given = Self.optionsGiven(in: commandLine, options: options)
        var overridden = given
        for group in exclusiveGroups where !given.isDisjoint(with: group) {
            overridden.formUnion(group)
        }
        var result: [String] = []
        for entry in entries {
            guard entry.key != "config" else { throw ConfigError.nested(path: path, line: entry.line) }
            guard let option = byLong[entry.key] else {
                throw ConfigError.unknownKey(path: path, line: entry.line, key: entry.key,
                                             known: options.map(\.long).filter { $0 != "config" && $0 != "help" }.sorted())
            }
            if overridden.contains(option.long) { continue }
            if option.isFlag {
                switch entry.value.lowercased() {
                case "true", "yes", "on", "1", "": result.append("--" + option.long)
                case "false", "no", "off", "0": break
                default: throw ConfigError.badFlag(path: path, line: entry.line, key: entry.key, value: entry.value)
                }
            } else {
                guard !entry.value.isEmpty else { throw ConfigError.missingValue(path: path, line: entry.line, key: entry.key) }
                result.append("--" + option.long + "=" + entry.value)
            }
        }
        return result + commandLine
    }

    /// Long names of the options that appear in `arguments` (`--name`, `--name=value`, `-x`, `-xy`).
    static func optionsGiven(in arguments: [String], options: [Option]) -> Set<String> {
        let byShort = Dictionary(options.compactMap { o in o.short.map { ($0, o) } }, uniquingKeysWith: { a, _ in a })
        let byLong = Dictionary(options.map { ($0.long, $0) }, uniquingKeysWith: { a, _ in a })
        var given = Set<String>()
        var skipValue = false
        for argument in arguments {
            if skipValue { skipValue = false; continue }
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                let name = String(argument.dropFirst(2).prefix { $0 != "=" })
                guard let option = byLong[name] else { continue }
                given.insert(option.long)
                if !option.isFlag && !argument.contains("=") { skipValue = true }
            } else if argument.hasPrefix("-"), argument.count > 1 {
                for (offset, character) in argument.dropFirst().enumerated() {
                    guard let option = byShort[character] else { break }
                    given.insert(option.long)
                    if !option.isFlag {
                        // `-i eth0` takes the next argument; `-ieth0` carries it along
                        if offset == argument.count - 2 { skipValue = true }
                        break
                    }
                }
            }
        }
        return given
    }
}
