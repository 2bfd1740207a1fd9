/// Per-CPU failure and event counters the kernel program keeps (index into the `fg_counters` array).
/// The generator emits the same list as `FG_CNT_*` defines, so kernel and userland share one source.
/// Only failures are counted in the kernel: a per-packet "seen" counter would cost every packet a lookup.
public enum KernelCounter: Int, CaseIterable, Sendable {
    /// Frames that were not IPv4/IPv6 (ARP, LLDP, ...).
    case notIP = 0
    /// IP packets of a version the selected features exclude (e.g. IPv6 with `-ipv6`).
    case ipVersionExcluded
    /// Headers cut short: the packet ended inside a header it announced.
    case truncated
    /// IPv4 header length below 5 words or beyond the packet.
    case badIPv4Header
    /// TCP data offset below 5 words.
    case badTCPHeader
    /// More than 4 VLAN tags.
    case vlanTooDeep
    /// IPv6 extension header chain too long to walk.
    case ipv6ExtensionChainTooLong
    /// New flow not tracked: the flow table was full.
    case tableFull
    /// Map update failed for another reason.
    case updateFailed
    /// Non-first fragments (keyed without ports).
    case fragments
    /// A tail call into a later stage failed.
    case tailCallFailed
    /// MACsec frames whose user data is encrypted or changed (TCI E or C bit): no IP header to read.
    case macsecEncrypted
    /// NSH packets whose payload is neither IPv4, IPv6 nor Ethernet (MPLS, ...), or whose header is shorter than 8 bytes.
    case nshNotIP
    /// Arista vendor headers (ethertype 0xD28B) of a subtype or timestamp format other than the 64- and 48-bit timestamps.
    case aristaUnknown
    /// A later stage found no flow for the key stage 0 left in `fg_ctx` (the flow was deleted or
    /// evicted between the stages): its features were not updated for that packet.
    case stageFlowMissing

    /// Name used in the generated C (`FG_CNT_<NAME>`) and in reports.
    public var cName: String {
        switch self {
        case .notIP: return "NOT_IP"
        case .ipVersionExcluded: return "IP_VERSION_EXCLUDED"
        case .truncated: return "TRUNCATED"
        case .badIPv4Header: return "BAD_IPV4_HEADER"
        case .badTCPHeader: return "BAD_TCP_HEADER"
        case .vlanTooDeep: return "VLAN_TOO_DEEP"
        case .ipv6ExtensionChainTooLong: return "IPV6_EXT_CHAIN_TOO_LONG"
        case .tableFull: return "TABLE_FULL"
        case .updateFailed: return "UPDATE_FAILED"
        case .fragments: return "FRAGMENTS"
        case .tailCallFailed: return "TAIL_CALL_FAILED"
        case .macsecEncrypted: return "MACSEC_ENCRYPTED"
        case .nshNotIP: return "NSH_NOT_IP"
        case .aristaUnknown: return "ARISTA_UNKNOWN"
        case .stageFlowMissing: return "STAGE_FLOW_MISSING"
        }
    }

    /// snake_case name for JSON statistics.
    public var jsonName: String { cName.lowercased() }
}
