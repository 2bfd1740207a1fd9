import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What precedes the network header in the packets a device's tc hooks see, read from its link type
/// (ARPHRD) when flowgen attaches, and told to the program through its `fg_links` maps: the parser
/// (Templates/parse.h) reads an Ethernet header unless the device is marked as having none.
public enum LinkLayer: Equatable, Sendable {
    /// An Ethernet header (Ethernet, veth, bridges, loopback, and every type not listed below).
    case ethernet
    /// None: packets start at the IPv4/IPv6 header and skb->protocol says which (tun, WireGuard,
    /// ipip, sit, GRE, ip6tnl, PPP, raw-IP modems).
    case none

    /// ARPHRD types whose devices hand tc packets without a link header: NONE (tun, WireGuard),
    /// PPP, RAWIP, TUNNEL (ipip), TUNNEL6 (ip6tnl), SIT, IPGRE, IP6GRE.
    static let headerless: Set<Int32> = [0xFFFE, 512, 519, 768, 769, 776, 778, 823]

    /// The link layer of an ARPHRD type.
    public init(arphrd: Int32) {
        self = Self.headerless.contains(arphrd) ? .none : .ethernet
    }

    /// The link layer of `interface` in the calling thread's network namespace.
    public static func of(interface: String) throws -> LinkLayer {
        let type = fg_link_type(interface)
        if type < 0 {
            if -type == ENODEV { throw KernelError.interfaceNotFound(interface) }
            throw KernelError.systemCall(operation: "reading the link type of \(interface)", code: -type)
        }
        return LinkLayer(arphrd: type)
    }

    /// The `fg_links` maps of a loaded monitor (absent in objects built before them: such a
    /// monitor reads every device as Ethernet).
    public struct Maps: Sendable {
        /// fd of `fg_links`, the bitmap of headerless ifindexes (64 per entry).
        public let words: Int32
        /// Its entries.
        public let wordCount: UInt32
        /// fd of `fg_links_far`, the headerless ifindexes beyond the bitmap.
        public let far: Int32

        /// Wraps the two fds (owned by the caller).
        public init(words: Int32, wordCount: UInt32, far: Int32) {
            (self.words, self.wordCount, self.far) = (words, wordCount, far)
        }

        /// Records `interface`'s (ifindex `ifindex`) link layer before a filter is attached to it,
        /// so its first packet is already parsed from the right header. Marks and unmarks: an
        /// ifindex a deleted device had may come back as another kind of device.
        public func mark(interface: String, ifindex: Int32) throws {
            let layer = try LinkLayer.of(interface: interface)
            let rc = fg_links_mark(words, wordCount, far, UInt32(bitPattern: ifindex), layer == .none ? 1 : 0)
            if rc < 0 {
                throw KernelError.systemCall(operation: "recording the link type of \(interface) in the monitor's fg_links map", code: -rc)
            }
        }
    }
}
