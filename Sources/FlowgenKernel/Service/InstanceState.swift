import Foundation

/// The state file of a monitor instance: what flowgen attached where, with which program and
/// features, and which maps hold its flows, so a later process (a restarted collector, `flowgen
/// collect`, `status`, `unload`, `purge`) can find, check and adopt it, and touch nothing else.
public struct InstanceState: Codable, Sendable, Equatable {
    /// One tc filter flowgen attached.
    public struct Attachment: Codable, Sendable, Equatable {
        /// Interface name when attached.
        public var interface: String
        /// Its ifindex (in `namespace`) when attached; a new device with the same name has another.
        public var ifindex: Int32
        /// `ingress` or `egress`.
        public var direction: String
        /// tc filter handle.
        public var handle: UInt32
        /// tc filter priority.
        public var priority: UInt32
        /// Kernel id of the attached program: only a filter with this program is flowgen's.
        public var programID: UInt32
        /// True when flowgen created the interface's clsact qdisc (then it may remove it, once empty).
        public var createdQdisc: Bool

        /// Creates a record.
        public init(interface: String, ifindex: Int32, direction: String, handle: UInt32, priority: UInt32,
                    programID: UInt32, createdQdisc: Bool) {
            self.interface = interface
            self.ifindex = ifindex
            self.direction = direction
            self.handle = handle
            self.priority = priority
            self.programID = programID
            self.createdQdisc = createdQdisc
        }
    }

    /// A program of the pipeline.
    public struct Program: Codable, Sendable, Equatable {
        /// Function name (`flowgen_entry`, `flowgen_stage_1`, ...).
        public var name: String
        /// Kernel program id.
        public var id: UInt32
        /// Features the stage runs.
        public var features: [String]
        /// Instructions the verifier processed.
        public var verifiedInstructions: Int?
        /// Pin path, nil when not pinned.
        public var pin: String?
    }

    /// A map of the pipeline.
    public struct Map: Codable, Sendable, Equatable {
        /// Map name (`fg_flows`, `fg_counters`, ...).
        public var name: String
        /// Kernel map id.
        public var id: UInt32
        /// Pin path, nil when not pinned.
        public var pin: String?
    }

    /// Identity of a network namespace (device and inode of its nsfs file).
    public struct Namespace: Codable, Sendable, Equatable, Hashable {
        /// st_dev of /proc/self/ns/net.
        public var device: UInt64
        /// st_ino of /proc/self/ns/net.
        public var inode: UInt64
    }

    /// Format version of this file.
    public var version: Int = 1
    /// Instance name.
    public var instance: String
    /// flowgen version that loaded the programs.
    public var flowgenVersion: String
    /// True when programs and maps are pinned (they outlive the collector); false for a plain `run`.
    public var pinned: Bool
    /// Unix time the programs were loaded.
    public var loadedAt: Double
    /// The collector that last held the instance (it may be gone: check the collector lock).
    public var collectorPID: Int32?
    /// `--features` as given.
    public var features: String
    /// The resolved modules, in plan order.
    public var featureNames: [String]
    /// `--feature-path` directories.
    public var featurePaths: [String]
    /// `--allow-unsafe-feature-path` was given.
    public var allowUnsafeFeaturePath: Bool
    /// Flow table capacity (directions).
    public var maxFlows: Int
    /// Size of `struct fg_record`.
    public var recordSize: Int
    /// The programs, entry first.
    public var programs: [Program]
    /// The maps.
    public var maps: [Map]
    /// `-a`: every interface but lo, including ones that appear later.
    public var allInterfaces: Bool
    /// The interfaces asked for with `-i`.
    public var interfaces: [String]
    /// Hooks on every interface.
    public var directions: [String]
    /// Interfaces `flowgen unload -i` removed from an `-a` instance: not attached again.
    public var excludedInterfaces: [String] = []
    /// What is attached now.
    public var attachments: [Attachment]
    /// The network namespace the interfaces belong to.
    public var namespace: Namespace
    /// Last FLOW_ID exported, so a restarted collector continues the numbering.
    public var lastFlowID: UInt64 = 0

    /// The entry program.
    public var entryProgram: Program? { programs.first }

    /// The packet path's programs, entry first, in stage order: the stage split (the collector's
    /// kernel pass program, listed after them, runs on no packet).
    public var stagePrograms: [Program] { programs.filter { $0.name != KernelFlowPass.programName } }

    /// The map named `name`.
    public func map(_ name: String) -> Map? { maps.first { $0.name == name } }

    /// JSON text (sorted keys, pretty-printed).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes a state file.
    public static func decode(_ data: Data) throws -> InstanceState {
        try JSONDecoder().decode(InstanceState.self, from: data)
    }
}
