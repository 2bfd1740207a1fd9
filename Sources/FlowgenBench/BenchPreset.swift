import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// A named feature set from `Templates/bench/presets.json`, with the targets the issues set for it.
///
/// Presets are data so that a preset another developer adds (such as `seed`) is measured as soon
/// as it resolves, with no change to the benchmark's code.
public struct BenchPreset: Codable, Sendable, Equatable {
    /// Label in tables and JSON.
    public var name: String
    /// What `--features` would be given for it ("" is base alone).
    public var selection: String
    /// Modules that make it up, tried when `selection` does not resolve (nil: selection only).
    public var modules: [String]?
    /// Where the targets come from.
    public var source: String?
    /// Largest allowed existing-flow cost, as a multiple of the minimal floor program.
    public var existingFlowTarget: Double?
    /// Largest allowed new-flow cost, as a multiple of the minimal program's insert.
    public var newFlowTarget: Double?
    /// Smallest share of the no-program packet rate kept on a veth with one flow.
    public var keepOneFlowTarget: Double?
    /// Smallest share of the no-program packet rate kept with many flows.
    public var keepManyFlowsTarget: Double?

    enum CodingKeys: String, CodingKey {
        case name, selection, modules, source
        case existingFlowTarget = "existing_flow_target"
        case newFlowTarget = "new_flow_target"
        case keepOneFlowTarget = "keep_one_flow_target"
        case keepManyFlowsTarget = "keep_many_flows_target"
    }

    /// The presets file: presets and extra module combinations to measure.
    public struct File: Codable, Sendable {
        /// Extra selections measured in the kernel section (e.g. "tcp,icmp").
        public var combinations: [String]
        /// The presets, in report order.
        public var presets: [BenchPreset]
    }

    /// Reads `presets.json` from the bench templates directory.
    public static func load(directory: String) throws -> File {
        let path = directory + "/presets.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchError.missingFile(path)
        }
        do {
            return try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw BenchError.badFile(path, "\(error)")
        }
    }

    /// The selection to build for this preset from `catalog`, or nil when it is not available yet:
    /// its own selection first, then its module list if every module exists.
    public func resolve(in catalog: FeatureCatalog) -> String? {
        if (try? FeatureSelection(selection, available: catalog.modules)) != nil { return selection }
        if let modules, !modules.isEmpty {
            let names = Set(catalog.modules.map(\.name))
            if modules.allSatisfy(names.contains) { return modules.joined(separator: ",") }
        }
        return nil
    }
}
