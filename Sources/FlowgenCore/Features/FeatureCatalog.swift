import Foundation

/// The modules available to a run: built-in `Features/` plus every `--feature-path` directory.
public struct FeatureCatalog: Sendable {
    /// Where templates and built-in modules were found.
    public let resources: ResourceLocator
    /// Every available module, sorted by name.
    public let modules: [FeatureModule]

    /// Loads the built-in modules and those under `userPaths`. A user path writable by anyone but
    /// root is refused unless `allowUnsafe` (its C is compiled into the kernel).
    public init(resources: ResourceLocator, userPaths: [String] = [], allowUnsafe: Bool = false) throws {
        self.resources = resources
        for path in userPaths where !allowUnsafe {
            try Self.checkOwnership(path)
        }
        modules = try FeatureLoader(searchPaths: [resources.features] + userPaths).loadAll()
    }

    /// Resolves a selection such as `tcp,icmp,-ipv6` and plans it.
    public func plan(features: String, maxFlows: Int = Planner.defaultMaxFlows) throws -> Plan {
        try Planner().plan(FeatureSelection(features, available: modules), maxFlows: maxFlows)
    }

    static func checkOwnership(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FeatureError.badFeaturePath(path) }
        let writableByOthers = st.st_mode & (S_IWGRP | S_IWOTH) != 0
        let ownedByRootOrUs = st.st_uid == 0 || st.st_uid == geteuid()
        if writableByOthers || !ownedByRootOrUs {
            throw FeatureError.unsafeFeaturePath(path)
        }
    }
}
