/// One feature module: a declarative spec (feature.yaml) plus an optional C update body.
public struct FeatureModule: Sendable, Equatable {
    /// Unique name, e.g. `tcp`; also the folder name.
    public var name: String
    /// One-line description for `flowgen features`.
    public var summary: String
    /// Modules this one needs; selected automatically.
    public var requires: [String]
    /// Packet classes the update applies to; empty means every packet.
    public var appliesTo: [PacketClass]
    /// Preprocessor symbols this module defines for the parser (e.g. `FG_WITH_IPV4`).
    public var defines: [String]
    /// Record fields this module adds, in declaration order.
    public var fields: [FieldSpec]
    /// Outputs computed at export from stored fields (`derive:`), in declaration order; no record room.
    public var derived: [DerivedField] = []
    /// Sequences of a flow's first packets (`sequence:`), computed at export from stored arrays.
    public var sequences: [SequenceField] = []
    /// Per-packet C body (`update:` file), if any, with the file it came from for `#line`.
    public var update: SourceText?
    /// File-scope C (`helpers:` file): functions such as bpf_loop callbacks, and maps of its own.
    public var helpers: SourceText?
    /// Selected in every build (the `base` module).
    public var always: Bool
    /// Selected unless excluded with `-name` (ipv4, ipv6).
    public var enabledByDefault: Bool
    /// Selected by `all` (false for a module that changes what a flow is, such as `tunnel`).
    public var inAll: Bool = true
    /// Directory the module was loaded from.
    public var directory: String
    /// Values its user may choose (`parameters:`), with defaults and bounds.
    public var parameters: [ModuleParameter] = []
    /// Parameters this module sets on those it requires (`requires: [splt:n=20]`), by module.
    public var requiredSettings: [String: [String: String]] = [:]
    /// The value of every parameter in this selection (defaults, or what the selection set).
    public var parameterValues: [String: ModuleParameter.Value] = [:]

    /// Creates a module value.
    public init(name: String, summary: String = "", requires: [String] = [], appliesTo: [PacketClass] = [],
                defines: [String] = [], fields: [FieldSpec] = [], update: SourceText? = nil,
                always: Bool = false, enabledByDefault: Bool = false, directory: String = "") {
        self.name = name
        self.summary = summary
        self.requires = requires
        self.appliesTo = appliesTo
        self.defines = defines
        self.fields = fields
        self.update = update
        self.always = always
        self.enabledByDefault = enabledByDefault
        self.directory = directory
    }
}

/// C text with the file and first line it came from, so compile errors point at the feature's file.
public struct SourceText: Sendable, Equatable {
    /// The C text.
    public var text: String
    /// Path of the file that holds it.
    public var file: String
    /// Line of `file` on which `text` starts (1-based).
    public var line: Int

    /// Creates a located C snippet.
    public init(text: String, file: String, line: Int) {
        self.text = text
        self.file = file
        self.line = line
    }
}

/// Which packets a module's update runs for.
public enum PacketClass: String, Sendable, CaseIterable, Codable {
    /// IPv4 packets.
    case ipv4
    /// IPv6 packets.
    case ipv6
    /// TCP segments with a parsed header.
    case tcp
    /// UDP datagrams with a parsed header.
    case udp
    /// ICMP and ICMPv6 messages with a parsed header.
    case icmp

    /// The C condition over `pkt` that selects this class.
    public var cCondition: String {
        switch self {
        case .ipv4: return "pkt->key.ip_version == 4"
        case .ipv6: return "pkt->key.ip_version == 6"
        case .tcp: return "(pkt->l4_proto == IPPROTO_TCP && pkt->l4_off)"
        case .udp: return "(pkt->l4_proto == IPPROTO_UDP && pkt->l4_off)"
        case .icmp: return "((pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) && pkt->l4_off)"
        }
    }
}
