/// Errors of building, attaching and running a monitor, each saying what to do.
public enum MonitorError: Error, CustomStringConvertible {
    /// The object's BTF disagrees with the plan the decoder uses.
    case layoutMismatch([String])
    /// An output file could not be written.
    case outputFile(String, String)
    /// Neither an interface nor --all was given.
    case noInterface
    /// No pipeline within the stage limits passes the verifier.
    case doesNotFit(reason: String, hint: String)

    /// A message naming the thing and the fix.
    public var description: String {
        switch self {
        case let .layoutMismatch(problems):
            return "the compiled object's record layout differs from the plan (\(problems.joined(separator: "; "))); clear the cache (--cache-dir or ~/.cache/flowgen) and rebuild"
        case let .outputFile(path, why):
            return "cannot write '\(path)': \(why)"
        case .noInterface:
            return "no interface given: use -i IFACE (repeatable) or -a for every interface"
        case let .doesNotFit(reason, hint):
            return "the selected features do not load: \(reason); \(hint)"
        }
    }
}
