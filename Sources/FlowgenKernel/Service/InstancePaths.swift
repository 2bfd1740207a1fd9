import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an instance keeps its kernel objects and its state file.
///
/// Programs and maps are pinned under `<pin root>/<instance>/` on the BPF filesystem (default
/// `/sys/fs/bpf/flowgen`, `FLOWGEN_PIN_ROOT` overrides it); the state file, a lock and the plan
/// manifest live in `<state root>/<instance>/` (default `/run/flowgen`, `FLOWGEN_STATE_DIR`), since
/// a BPF filesystem holds only BPF objects. Both are gone after a reboot, as are the programs.
public struct InstancePaths: Sendable, Equatable {
    /// The instance name (a safe file name).
    public let name: String
    /// Root directory of every instance's pins.
    public let pinRoot: String
    /// Root directory of every instance's state.
    public let stateRoot: String

    /// Paths of instance `name`, which must be a valid instance name.
    public init(name: String, pinRoot: String = InstancePaths.defaultPinRoot, stateRoot: String = InstancePaths.defaultStateRoot) throws {
        guard Self.isValidName(name) else { throw InstanceError.invalidName(name) }
        self.name = name
        self.pinRoot = pinRoot
        self.stateRoot = stateRoot
    }

    /// `$FLOWGEN_PIN_ROOT` or `/sys/fs/bpf/flowgen`.
    public static var defaultPinRoot: String {
        ProcessInfo.processInfo.environment["FLOWGEN_PIN_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/sys/fs/bpf/flowgen"
    }

    /// `$FLOWGEN_STATE_DIR` or `/run/flowgen`.
    public static var defaultStateRoot: String {
        ProcessInfo.processInfo.environment["FLOWGEN_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/flowgen"
    }

    /// `<pin root>/<name>`: the pinned programs and maps.
    public var pinDirectory: String { pinRoot + "/" + name }
    /// `<state root>/<name>`: state file, locks and plan manifest.
    public var stateDirectory: String { stateRoot + "/" + name }
    /// The state file (JSON).
    public var stateFile: String { stateDirectory + "/state.json" }
    /// The plan manifest, as `flowgen build -o` writes it.
    public var planFile: String { stateDirectory + "/plan.json" }
    /// Held (flock) by the one collector of the instance while it runs.
    public var collectorLockFile: String { stateDirectory + "/collector.lock" }
    /// Held briefly by every read-modify-write of the state file.
    public var stateLockFile: String { stateDirectory + "/state.lock" }

    /// The pin path of a map.
    public func mapPin(_ map: String) -> String { pinDirectory + "/map_" + Self.sanitize(map) }
    /// The pin path of a program.
    public func programPin(_ program: String) -> String { pinDirectory + "/prog_" + Self.sanitize(program) }

    /// Names usable as one path component: 1 to 100 of `A-Z a-z 0-9 . _ + - @`, not starting with a dot.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._+-@".unicodeScalars.contains($0)) }
    }

    /// The default instance name: the interfaces joined by `+` (sorted), or `all` for `-a`; outside
    /// the initial network namespace followed by `@` and the namespace's name from
    /// /var/run/netns (or `netns<inode>`), since interface names repeat across namespaces.
    public static func defaultName(interfaces: [String], all: Bool) -> String {
        var name = all ? "all" : interfaces.sorted().map(sanitize).joined(separator: "+")
        if name.utf8.count > 80 { name = String(name.prefix(80)) }
        if let namespace = currentNamespaceLabel() { name += "@" + namespace }
        return name
    }

    /// nil in the initial network namespace; otherwise its `ip netns` name or `netns<inode>`.
    static func currentNamespaceLabel() -> String? {
        var mine = stat(), initial = stat()
        guard stat("/proc/self/ns/net", &mine) == 0 else { return nil }
        if stat("/proc/1/ns/net", &initial) == 0, initial.st_ino == mine.st_ino, initial.st_dev == mine.st_dev { return nil }
        if let name = namespaceName(device: UInt64(mine.st_dev), inode: UInt64(mine.st_ino)), isValidName(name) { return name }
        return "netns\(mine.st_ino)"
    }

    /// The `ip netns` name (a file in /var/run/netns) of the network namespace with this nsfs
    /// device and inode, nil when it has none.
    public static func namespaceName(device: UInt64, inode: UInt64) -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/var/run/netns") else { return nil }
        for candidate in names.sorted() {
            var other = stat()
            if stat("/var/run/netns/" + candidate, &other) == 0, UInt64(other.st_ino) == inode, UInt64(other.st_dev) == device {
                return candidate
            }
        }
        return nil
    }

    /// Replaces characters that are not allowed in a name by `_`.
    static func sanitize(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._+-@".unicodeScalars.contains($0)) ? Character($0) : "_" })
    }
}
