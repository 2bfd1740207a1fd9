/// A tc filter found on an interface's clsact hooks (any owner, not only flowgen).
public struct AttachedFilter: Sendable, Equatable {
    /// Hook the filter sits on.
    public var direction: TCAttachment.Direction
    /// Filter handle.
    public var handle: UInt32
    /// Filter priority (tc's `pref`).
    public var priority: UInt32
    /// Kernel id of the BPF program, 0 for non-BPF filters.
    public var programID: UInt32
    /// Classifier kind, e.g. `bpf`.
    public var kind: String
    /// Name the BPF filter was given (libbpf uses the program name), empty if none.
    public var name: String

    /// Creates a filter description.
    public init(direction: TCAttachment.Direction, handle: UInt32, priority: UInt32, programID: UInt32,
                kind: String, name: String) {
        self.direction = direction
        self.handle = handle
        self.priority = priority
        self.programID = programID
        self.kind = kind
        self.name = name
    }
}
