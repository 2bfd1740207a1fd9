import Foundation

/// Finds flowgen's `Templates/` and built-in `Features/` wherever the binary runs from.
public struct ResourceLocator: Sendable {
    /// Directory holding the C templates.
    public var templates: String
    /// Directory holding the built-in feature modules.
    public var features: String

    /// Error when no installation or source tree is found.
    public struct NotFound: Error, CustomStringConvertible {
        /// Places that were searched.
        public var searched: [String]
        /// What to do about it.
        public var description: String {
            "cannot find flowgen's Templates/ and Features/ (searched \(searched.joined(separator: ", "))); set FLOWGEN_HOME to the directory that holds them"
        }
    }

    /// Creates a locator over explicit directories.
    public init(templates: String, features: String) {
        self.templates = templates
        self.features = features
    }

    /// Searches, in order: `$FLOWGEN_HOME`, `<exe>/../share/flowgen`, the executable's directory and
    /// its parents (a source checkout running `.build/debug/flowgen`), then the source tree this
    /// binary was built from.
    public static func locate(executable: String = CommandLine.arguments.first ?? "") throws -> ResourceLocator {
        var candidates: [String] = []
        if let home = ProcessInfo.processInfo.environment["FLOWGEN_HOME"], !home.isEmpty {
            candidates.append(home)
        }
        let exe = URL(fileURLWithPath: Self.resolvedExecutable(executable)).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        candidates.append(dir.deletingLastPathComponent().appendingPathComponent("share/flowgen").path)
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        // #filePath is .../Sources/FlowgenCore/Support/ResourceLocator.swift
        let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(sourceRoot.path)
        for base in candidates {
            let t = (base as NSString).appendingPathComponent("Templates")
            let f = (base as NSString).appendingPathComponent("Features")
            if FileManager.default.fileExists(atPath: (t as NSString).appendingPathComponent("entry.bpf.c")),
               FileManager.default.fileExists(atPath: f) {
                return ResourceLocator(templates: t, features: f)
            }
        }
        throw NotFound(searched: candidates)
    }

    /// Reads a template file by name.
    public func template(_ name: String) throws -> String {
        let path = (templates as NSString).appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw NotFound(searched: [path])
        }
        return text
    }

    private static func resolvedExecutable(_ argv0: String) -> String {
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return link }
        return argv0
    }
}
