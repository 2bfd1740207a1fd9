import Foundation
import FlowgenCore

/// Progress and error messages: stderr by default, or the --log file; flows never go here.
final class MessageLog {
    let handle: FileHandle
    /// Hides progress lines (-q, or a replay that only has errors to report).
    var quiet: Bool
    let verbose: Bool

    init(path: String?, quiet: Bool, verbose: Bool) throws {
        self.quiet = quiet
        self.verbose = verbose
        if let path {
            let fd: Int32
            do {
                fd = try OutputFile.openForAppend(path).fd
            } catch {
                throw ValidationErrorText("cannot open log file '\(path)': \(error); choose another with --log FILE")
            }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        } else {
            handle = FileHandle.standardError
        }
    }

    /// A normal progress line (hidden by -q).
    func info(_ message: String) {
        guard !quiet else { return }
        write(message)
    }

    /// An error or warning line (shown even with -q).
    func problem(_ message: String) {
        write(message)
    }

    /// A detail line (shown with -v).
    func detail(_ message: String) {
        guard verbose else { return }
        write(message)
    }

    private func write(_ message: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        handle.write(Data("\(stamp) flowgen: \(message)\n".utf8))
    }
}

/// An error whose text is shown as is.
struct ValidationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
