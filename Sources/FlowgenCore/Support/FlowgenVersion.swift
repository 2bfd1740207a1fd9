/// flowgen's version; part of the compile cache key.
public enum FlowgenVersion {
    /// Semantic version string.
    public static let string = "0.1.0"
}
