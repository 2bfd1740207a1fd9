import Foundation
import Logging

/// Messages to standard error, so standard output stays machine-readable.
enum Console {
    /// A logger writing "flowgen: ..." lines to stderr, for components of commands without --log.
    static let logger = Logger(label: "flowgen") { _ in LineLogHandler(sink: LineSink(FileHandle.standardError, stamped: false)) }

    /// Prints "flowgen: warning: ..." to stderr.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("flowgen: warning: \(message)\n".utf8))
    }

    /// Prints "flowgen: ..." to stderr.
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("flowgen: \(message)\n".utf8))
    }
}
