import FlowgenCore

/// Errors of pinned instances and the management commands, each naming the instance or path and
/// saying what to do.
public enum InstanceError: Error, CustomStringConvertible, Equatable {
    /// An instance name that cannot be a directory name.
    case invalidName(String)
    /// The pin root is not on a BPF filesystem.
    case notBPFFilesystem(String)
    /// No instance of this name.
    case notFound(name: String, known: [String])
    /// No instance at all.
    case noInstances
    /// Several instances and none chosen.
    case ambiguous([String])
    /// Another collector holds the instance.
    case collectorRunning(name: String, pid: Int32?)
    /// `flowgen load` of an instance that exists.
    case alreadyLoaded(String)
    /// A plain `run` would collide with a pinned instance of the same name.
    case pinnedInstanceExists(String)
    /// The pinned instance counts other features than requested.
    case featuresDiffer(name: String, pinned: [String], requested: [String])
    /// The pinned flow table's BTF layout does not match the decoder.
    case layoutMismatch(name: String, problems: [String])
    /// The state file cannot be read or decoded.
    case stateUnreadable(path: String, reason: String)
    /// A pinned object the state names is gone.
    case pinMissing(name: String, path: String)
    /// The instance's interfaces live in another network namespace.
    case otherNamespace(name: String, inode: UInt64)
    /// Another filter sits where flowgen attaches.
    case filterTaken(interface: String, direction: String, owner: String)
    /// `unload -i` of an interface flowgen has nothing on.
    case nothingAttached(String)
    /// A pin or state folder that another user could change (and so move pins or state away).
    case untrustedDirectory(path: String, reason: String)

    /// A one-line message.
    public var description: String {
        switch self {
        case let .invalidName(name):
            return "invalid instance name '\(ControlCharacters.visible(name))': use 1 to 100 letters, digits, '.', '_', '+', '-' or '@', not starting with '.'"
        case let .notBPFFilesystem(path):
            return "\(path) is not on a BPF filesystem: mount one with `mount -t bpf bpf /sys/fs/bpf` (`ip netns exec` remounts /sys without it: enter the namespace with `nsenter --net=/var/run/netns/NAME` instead), or point FLOWGEN_PIN_ROOT at a directory on one"
        case let .notFound(name, known):
            return "no flowgen instance named '\(name)'" + (known.isEmpty ? " (none is loaded)" : " (loaded: \(known.joined(separator: ", ")))") + "; see `flowgen status`"
        case .noInstances:
            return "no flowgen instance is loaded: load one with `flowgen load -i IFACE` or `flowgen run --pin -i IFACE`"
        case let .ambiguous(names):
            return "several flowgen instances are loaded (\(names.joined(separator: ", "))): choose one with --instance NAME"
        case let .collectorRunning(name, pid):
            return "instance '\(name)' already has a collector running" + (pid.map { " (pid \($0))" } ?? "") + ": stop it first, or choose another --instance"
        case let .alreadyLoaded(name):
            return "instance '\(name)' is already loaded: collect from it with `flowgen collect --instance \(name)`, or remove it first with `flowgen purge --instance \(name)`"
        case let .pinnedInstanceExists(name):
            return "instance '\(name)' is pinned (by `flowgen load` or `run --pin`): adopt it with `flowgen run --pin` or `flowgen collect`, or remove it with `flowgen purge --instance \(name)`"
        case let .featuresDiffer(name, pinned, requested):
            return "instance '\(name)' counts with features \(pinned.joined(separator: ",")) but this run asks for \(requested.joined(separator: ",")): use the same --features, another --instance, or `flowgen purge --instance \(name)` first (its unexported flows are then lost)"
        case let .layoutMismatch(name, problems):
            return "the pinned flow table of instance '\(name)' does not match the decoder (\(problems.joined(separator: "; "))): the feature modules changed since it was loaded; restore them, or `flowgen purge --instance \(name)` and load again"
        case let .stateUnreadable(path, reason):
            return "state file \(path) is unreadable (\(reason)): remove the instance with `flowgen purge`"
        case let .pinMissing(name, path):
            return "pinned object \(path) of instance '\(name)' is missing: remove the instance with `flowgen purge --instance \(name)` and load it again"
        case let .otherNamespace(name, inode):
            return "instance '\(name)' is attached in another network namespace (inode \(inode)): run this command inside it (e.g. `nsenter --net=/var/run/netns/NAME flowgen ...`)"
        case let .filterTaken(interface, direction, owner):
            return "\(interface) \(direction) already has a filter at flowgen's handle and priority (\(owner)): remove it (`flowgen unload -i \(interface)` if it is flowgen's) or choose another interface"
        case let .nothingAttached(interface):
            return "flowgen has nothing attached to \(interface): see `flowgen status`"
        case let .untrustedDirectory(path, reason):
            return "refusing \(path): \(reason); another user could move flowgen's pins or state away from it. Remove it (`rm -r \(path)`, once nothing you need is pinned there) and flowgen creates it owned by root with mode 0700, or fix it with `chown root:root \(path) && chmod 0700 \(path)` (or set FLOWGEN_PIN_ROOT / FLOWGEN_STATE_DIR to a folder of your own)"
        }
    }
}
