import Logging

extension Logger {
    /// A logger that drops every message: the default of components whose caller wants no log
    /// lines (tests, the benchmark); the command line passes one that writes what -q, -v and --log say.
    public static var silent: Logger { Logger(label: "flowgen", factory: { _ in SwiftLogNoOpLogHandler() }) }
}
