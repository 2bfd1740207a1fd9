import Foundation

/// Messages to standard error, so standard output stays machine-readable.
enum Console {
    /// Prints "flowgen: warning: ..." to stderr.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("flowgen: warning: \(message)\n".utf8))
    }

    /// Prints "flowgen: ..." to stderr.
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("flowgen: \(message)\n".utf8))
    }
}
