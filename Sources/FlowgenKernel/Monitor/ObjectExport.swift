import Foundation
import FlowgenCore

/// Writes a compiled object where the user asked, with its layout manifest beside it.
public enum ObjectExport {
    /// `FILE.o` → `FILE.manifest.json`.
    public static func manifestPath(for objectPath: String) -> String {
        let base = objectPath.hasSuffix(".o") ? String(objectPath.dropLast(2)) : objectPath
        return base + ".manifest.json"
    }

    /// Copies the object to `path` and writes the manifest (the plan as JSON).
    public static func write(object: CompiledObject, plan: Plan, to path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            throw MonitorError.outputFile(path, "the directory \(parent) does not exist; create it first")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: object.objectPath))
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            try Data(PlanDocument(plan: plan).json().utf8).write(to: URL(fileURLWithPath: manifestPath(for: path)), options: .atomic)
        } catch {
            throw MonitorError.outputFile(path, "\(error.localizedDescription)")
        }
    }
}
