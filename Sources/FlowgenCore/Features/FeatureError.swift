/// Errors in feature modules and feature selections, each naming the file (and line) to fix.
public enum FeatureError: Error, Equatable, CustomStringConvertible {
    /// A feature.yaml (or its update file) is malformed at file:line.
    case malformed(file: String, line: Int, message: String)
    /// A selection names a module that no feature path holds.
    case unknownFeature(String, available: [String])
    /// Two directories define a module of the same name.
    case duplicate(name: String, first: String, second: String)
    /// A module requires one that does not exist.
    case missingDependency(module: String, requires: String)
    /// Two selected modules declare the same field name.
    case fieldClash(field: String, first: String, second: String)
    /// A feature path does not exist or is not a directory.
    case badFeaturePath(String)
    /// A folder or file of a feature path (or of the templates) that someone other than root and
    /// the invoking user could change: its C would run in the kernel and in this process.
    case unsafeFeaturePath(String, reason: String)
    /// Two places declare the same output name (JSON key, CSV column); `first` and `second` say
    /// which field of which module (file:line), or "a built-in output column".
    case outputNameClash(name: String, first: String, second: String)
    /// A module or plan is larger than flowgen accepts; the message says who and how much.
    case overLimit(FeatureLimit, message: String)

    /// A one-line message that says what to do.
    public var description: String {
        switch self {
        case let .malformed(file, line, message):
            return "\(file):\(line): error: \(message)"
        case let .unknownFeature(name, available):
            return "unknown feature '\(name)'; available: \(available.joined(separator: ", ")) (see `flowgen features`, or add a module with --feature-path DIR)"
        case let .duplicate(name, first, second):
            return "feature '\(name)' is defined twice: \(first) and \(second); rename one of them"
        case let .missingDependency(module, requires):
            return "feature '\(module)' requires '\(requires)', which no feature path provides"
        case let .fieldClash(field, first, second):
            return "field '\(field)' is declared by both '\(first)' and '\(second)'; field names must be unique across selected features"
        case let .badFeaturePath(path):
            return "feature path '\(path)' is not a readable directory"
        case let .unsafeFeaturePath(path, reason):
            return "refusing '\(path)': \(reason); flowgen compiles and loads its C as this user, so every folder and file on the way must be owned by root or you and writable by nobody else: fix the owner (`chown`) or mode (`chmod go-w`) of the part named, or, if you trust everyone who can write it, pass --allow-unsafe-feature-path"
        case let .outputNameClash(name, first, second):
            return "output name '\(name)' is declared twice: by \(first) and by \(second); output names (json:) must be unique across the selected features and the built-in columns: rename one"
        case let .overLimit(limit, message):
            return "\(message) (limit: \(limit.name))"
        }
    }
}
