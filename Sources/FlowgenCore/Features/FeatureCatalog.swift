import Foundation

/// The modules available to a run: built-in `Features/` plus every `--feature-path` directory.
public struct FeatureCatalog: Sendable {
    /// Where templates and built-in modules were found.
    public let resources: ResourceLocator
    /// Every available module, sorted by name.
    public let modules: [FeatureModule]
    /// Module folders that failed to load, with their errors: an error only for a command that
    /// selects (or requires) one, listed by `flowgen features`.
    public let broken: [BrokenModule]

    /// Loads the built-in modules and those under `userPaths`. Every folder and file read (and the
    /// templates) must be owned by root or the invoking user and writable by nobody else, the
    /// folders above them too (see `PathTrust`), unless `allowUnsafe`: their C is compiled into the
    /// kernel and, for replay, loaded into this process.
    public init(resources: ResourceLocator, userPaths: [String] = [], allowUnsafe: Bool = false) throws {
        self.resources = resources
        let trust: PathTrust? = allowUnsafe ? nil : .invokingUser
        try Self.checkTemplates(resources.templates, trust)
        (modules, broken) = try FeatureLoader(searchPaths: [resources.features] + userPaths, trust: trust).loadReportingBroken()
    }

    /// Resolves a selection such as `tcp,icmp,-ipv6` and plans it; selecting or requiring a broken
    /// module fails with that module's own error.
    public func plan(features: String, maxFlows: Int = Planner.defaultMaxFlows) throws -> Plan {
        do {
            return try Planner().plan(FeatureSelection(features, available: modules), maxFlows: maxFlows)
        } catch let FeatureError.unknownFeature(name, _) where broken.contains(where: { $0.name == name }) {
            throw broken.first { $0.name == name }!.error
        } catch let FeatureError.missingDependency(_, requires) where broken.contains(where: { $0.name == requires }) {
            throw broken.first { $0.name == requires }!.error
        }
    }

    /// Checks the templates folder and every file under it, which generated C includes.
    static func checkTemplates(_ templates: String, _ trust: PathTrust?) throws {
        guard trust != nil else { return }
        try FeatureLoader.check(templates, .directory, trust)
        let files = FileManager.default.enumerator(atPath: templates)?.compactMap { $0 as? String } ?? []
        for name in files.sorted() {
            let path = (templates as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            // a name removed since the listing is checked as a file, which reports that it cannot be examined
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            try FeatureLoader.check(path, exists && isDirectory.boolValue ? .directory : .file, trust)
        }
    }
}
