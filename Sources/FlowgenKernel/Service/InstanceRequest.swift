/// What `flowgen run` or `flowgen load` asks for: the features, the interfaces and hooks, the
/// instance name and whether to pin.
public struct InstanceRequest: Sendable, Equatable {
    /// `--instance`; nil derives the name from the interfaces (`InstancePaths.defaultName`).
    public var name: String?
    /// `--features` as given.
    public var features: String
    /// `--feature-path` directories.
    public var featurePaths: [String]
    /// `--allow-unsafe-feature-path`.
    public var allowUnsafeFeaturePath: Bool
    /// `-i` interfaces.
    public var interfaces: [String]
    /// `-a`: every interface but lo, also ones that appear later.
    public var allInterfaces: Bool
    /// Hooks.
    public var directions: [TCAttachment.Direction]
    /// Pin programs and maps so they outlive the process.
    public var pin: Bool

    /// Creates a request.
    public init(name: String? = nil, features: String, featurePaths: [String] = [], allowUnsafeFeaturePath: Bool = false,
                interfaces: [String], allInterfaces: Bool, directions: [TCAttachment.Direction], pin: Bool) {
        self.name = name
        self.features = features
        self.featurePaths = featurePaths
        self.allowUnsafeFeaturePath = allowUnsafeFeaturePath
        self.interfaces = interfaces
        self.allInterfaces = allInterfaces
        self.directions = directions
        self.pin = pin
    }

    /// The instance name: `name`, or the one derived from the interfaces.
    public var instanceName: String {
        name ?? InstancePaths.defaultName(interfaces: interfaces, all: allInterfaces)
    }
}
