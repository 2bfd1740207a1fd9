/// Problems with `--metrics ADDR:PORT`.
public enum MetricsServerError: Error, CustomStringConvertible, Equatable {
    /// The address is not `HOST:PORT` with a numeric host.
    case badAddress(String, String)
    /// The socket could not be bound or listened on.
    case cannotListen(String, String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .badAddress(address, why):
            return "--metrics '\(address)': \(why)"
        case let .cannotListen(address, why):
            return "cannot serve metrics on \(address): \(why); choose another --metrics ADDR:PORT"
        }
    }
}
