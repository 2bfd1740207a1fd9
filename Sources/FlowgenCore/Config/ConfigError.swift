/// Problems with a `--config` file, each naming the file and line and saying what to do.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// A line is neither a comment nor `key = value`.
    case syntax(path: String, line: Int, text: String)
    /// A key that is not an option of the command.
    case unknownKey(path: String, line: Int, key: String, known: [String])
    /// A flag with a value other than true/false.
    case badFlag(path: String, line: Int, key: String, value: String)
    /// An option without a value.
    case missingValue(path: String, line: Int, key: String)
    /// `config = ...` inside a configuration file.
    case nested(path: String, line: Int)
    /// A key or value holds a control character; `key` is the setting whose value holds it, nil when
    /// the key itself does.
    case controlCharacter(path: String, line: Int, key: String?, character: Unicode.Scalar)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read configuration file '\(path)': \(reason); check the path given to --config"
        case let .syntax(path, line, text):
            return "\(path):\(line): expected 'key = value', found '\(ControlCharacters.visible(text))'; comments start with #"
        case let .unknownKey(path, line, key, known):
            return "\(path):\(line): unknown setting '\(key)'; settings are the long option names: \(known.joined(separator: ", "))"
        case let .badFlag(path, line, key, value):
            return "\(path):\(line): '\(key)' is a flag: write true or false, not '\(value)'"
        case let .missingValue(path, line, key):
            return "\(path):\(line): '\(key)' needs a value"
        case let .nested(path, line):
            return "\(path):\(line): a configuration file cannot name another one with 'config'"
        case let .controlCharacter(path, line, key, character):
            let place = key.map { "the value of '\($0)'" } ?? "the key"
            return "\(path):\(line): \(place) contains the control character \(ControlCharacters.label(character)); "
                + "settings may hold no control characters (not even a tab inside a value): delete it "
                + "(`cat -A \(path)` shows where it is)"
        }
    }
}
