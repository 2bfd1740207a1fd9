import Foundation
import Logging

/// Log lines of a component under test (or of the benchmark), kept in order with their level,
/// and passed on to `forward` when one is given. `logger` takes every level.
public final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(level: Logger.Level, text: String)] = []
    private let forward: ((String) -> Void)?

    /// Keeps every line; `forward` also receives each one (the benchmark's progress output).
    public init(forward: ((String) -> Void)? = nil) { self.forward = forward }

    /// A logger whose lines land here, at every level down to trace.
    public var logger: Logger {
        var logger = Logger(label: "flowgen-test") { _ in Handler(log: self) }
        logger.logLevel = .trace
        return logger
    }

    /// Adds a line as the handler does (tests that hand out a closure use this).
    public func append(_ line: String, level: Logger.Level = .info) {
        lock.withLock { lines.append((level, line)) }
        forward?(line)
    }

    /// Every line so far.
    public var all: [String] { lock.withLock { lines.map(\.text) } }
    /// Every line so far with its level.
    public var leveled: [(level: Logger.Level, text: String)] { lock.withLock { lines } }
    /// Every line so far, joined by newlines.
    public var text: String { all.joined(separator: "\n") }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { log.append("\(event.message)", level: event.level) }
    }
}
