import Foundation

/// Receives the biflows a collector ends (JSON/CSV/text writers now; IPFIX later).
public protocol FlowExporter: AnyObject {
    /// Exports a batch of ended flows.
    func export(_ flows: [Biflow]) throws
    /// Flushes and releases the destination.
    func close() throws
}

/// Sends every batch to several exporters (e.g. JSON lines and IPFIX at once).
public final class ExporterGroup: FlowExporter {
    let members: [FlowExporter]

    /// Creates a group.
    public init(_ members: [FlowExporter]) { self.members = members }

    /// Exports to each member in turn.
    public func export(_ flows: [Biflow]) throws { for m in members { try m.export(flows) } }

    /// Closes every member.
    public func close() throws { for m in members { try m.close() } }
}

/// Writes formatted flows to standard output or to dated files in a directory.
public final class TextFlowExporter: FlowExporter {
    /// Where the text goes.
    public enum Destination: Sendable {
        /// Standard output.
        case standardOutput
        /// `DIR/flows-YYYY-MM-DD.<ext>`, a new file each UTC day (as the reference dumped by date).
        case directory(String)
    }

    let formatter: FlowFormatter
    let destination: Destination
    let epochOffsetNs: () -> Int64
    var handle: FileHandle?
    var currentPath: String?
    var wroteStdoutHeader = false

    /// Creates an exporter. `epochOffsetNs` converts record time to Unix time at export.
    public init(formatter: FlowFormatter, destination: Destination, epochOffsetNs: @escaping () -> Int64) throws {
        self.formatter = formatter
        self.destination = destination
        self.epochOffsetNs = epochOffsetNs
        if case let .directory(dir) = destination { try Self.checkWritable(dir) }
    }

    /// Fails early, with a message that says what to do, when `dir` cannot take output files.
    public static func checkWritable(_ dir: String) throws {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw ExportError.outputDirectory(dir, "cannot be created (\(error.localizedDescription))")
            }
        } else if !isDir.boolValue {
            throw ExportError.outputDirectory(dir, "is not a directory")
        }
        guard access(dir, W_OK | X_OK) == 0 else { throw ExportError.outputDirectory(dir, "is not writable") }
    }

    /// Formats and writes a batch.
    public func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return }
        let text = formatter.format(flows, epochOffsetNs: epochOffsetNs())
        switch destination {
        case .standardOutput:
            if !wroteStdoutHeader {
                wroteStdoutHeader = true
                FileHandle.standardOutput.write(Data(formatter.header().utf8))
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        case let .directory(dir):
            let h = try fileHandle(dir: dir)
            h.write(Data(text.utf8))
        }
    }

    func fileHandle(dir: String) throws -> FileHandle {
        let day = Self.utcDay(Date())
        let path = (dir as NSString).appendingPathComponent("flows-\(day).\(formatter.format.fileExtension)")
        if path == currentPath, let h = handle { return h }
        try handle?.close()
        let fresh = !FileManager.default.fileExists(atPath: path)
        // output may reveal who talks to whom: not world-readable
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw ExportError.outputDirectory(dir, "refused \(path): \(String(cString: strerror(errno)))") }
        let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        if fresh { h.write(Data(formatter.header().utf8)) }
        handle = h
        currentPath = path
        return h
    }

    static func utcDay(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday))
    }

    /// Closes the current file.
    public func close() throws {
        try handle?.close()
        handle = nil
    }
}

/// Errors of flow output.
public enum ExportError: Error, CustomStringConvertible {
    /// The output directory is unusable.
    case outputDirectory(String, String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .outputDirectory(dir, why):
            return "output directory '\(dir)' \(why): choose another with --output DIR, or fix its permissions"
        }
    }
}
