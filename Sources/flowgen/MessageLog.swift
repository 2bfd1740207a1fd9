import Foundation
import FlowgenCore
import FlowgenKernel
import Logging

/// Progress and error messages: stderr by default, or the --log file; flows never go here.
///
/// Every component logs through swift-log at its own level (errors and warnings, news, pass
/// details); the one handler here writes a line per message and the level says what -q and -v
/// show: -q warnings and errors only, the default adds news, -v adds details.
final class MessageLog {
    /// The logger handed to components; its level follows `quiet` and `verbose`.
    private(set) var logger: Logger
    /// Hides progress lines (-q, or a replay that only has errors to report).
    var quiet: Bool { didSet { logger.logLevel = Self.level(quiet: quiet, verbose: verbose) } }
    let verbose: Bool

    init(path: String?, quiet: Bool, verbose: Bool) throws {
        self.quiet = quiet
        self.verbose = verbose
        let sink: LineSink
        if let path {
            let fd: Int32
            do {
                fd = try OutputFile.openForAppend(path).fd
            } catch {
                throw ValidationErrorText("cannot open log file '\(path)': \(error); choose another with --log FILE")
            }
            sink = LineSink(FileHandle(fileDescriptor: fd, closeOnDealloc: true), stamped: true)
        } else {
            sink = LineSink(FileHandle.standardError, stamped: true)
        }
        logger = Logger(label: "flowgen") { _ in LineLogHandler(sink: sink) }
        logger.logLevel = Self.level(quiet: quiet, verbose: verbose)
    }

    /// -q: warnings and errors; -v: everything down to debug; otherwise info and up.
    static func level(quiet: Bool, verbose: Bool) -> Logger.Level {
        quiet ? .warning : verbose ? .debug : .info
    }

    /// A normal progress line (hidden by -q).
    func info(_ message: String) { logger.info("\(message)") }

    /// An error or warning line (shown even with -q).
    func problem(_ message: String) { logger.warning("\(message)") }

    /// A detail line (shown with -v).
    func detail(_ message: String) { logger.debug("\(message)") }
}

/// Where log lines go: one file handle, written a whole line at a time under a lock, so lines
/// from the collector thread and the metrics server never interleave.
final class LineSink: @unchecked Sendable {
    private let handle: FileHandle
    private let stamped: Bool
    private let lock = NSLock()

    /// `stamped`: each line starts with the UTC time (`2026-12-07T14:27:06Z`), as a log file wants.
    init(_ handle: FileHandle, stamped: Bool) {
        self.handle = handle
        self.stamped = stamped
    }

    /// Writes `flowgen: message` (after the time when stamped) and a newline.
    func write(_ message: String) {
        var line = "flowgen: \(message)\n"
        if stamped { line = Self.stamp() + " " + line }
        lock.withLock { handle.write(Data(line.utf8)) }
    }

    /// The current UTC time in ISO 8601 to the second, without building a formatter per line.
    static func stamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}

/// The swift-log handler of the command line: each message as one line on its sink; the level
/// only decides whether it is written (the message text says "error:" or "warning:" itself).
struct LineLogHandler: LogHandler {
    let sink: LineSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.write("\(event.message)")
    }
}

/// An error whose text is shown as is.
struct ValidationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
