import Foundation
import FlowgenKernel
import FlowgenCore

/// A veth pair joining two namespaces, addressed from 198.18.0.0/15 and fd00::/8 only, links up.
///
/// Either end may sit in the root namespace (`namespace == nil`), but tests should not do that:
/// DESIGN.md forbids touching the host's own interfaces, and a root-side end outlives a crash.
public final class VethPair: @unchecked Sendable {
    /// One end of the pair: where it lives, its name and its addresses (with prefix length, e.g. "198.18.0.1/24").
    public struct Endpoint: Sendable {
        /// The namespace holding this end; nil for the root namespace.
        public let namespace: NetworkNamespace?
        /// The interface name; nil asks for a unique one.
        public let name: String?
        /// IPv4 address with prefix length, inside 198.18.0.0/15.
        public let ipv4: String?
        /// IPv6 address with prefix length, inside fd00::/8 (added with `nodad`, usable at once).
        public let ipv6: String?
        /// MAC address to set, e.g. to match frames built with `PacketBuilder`; nil keeps the random one.
        public let mac: String?

        /// Describes one end; every field but the namespace is optional.
        public init(_ namespace: NetworkNamespace?, name: String? = nil, ipv4: String? = nil, ipv6: String? = nil, mac: String? = nil) {
            self.namespace = namespace
            self.name = name
            self.ipv4 = ipv4
            self.ipv6 = ipv6
            self.mac = mac
        }
    }

    /// The first end as created (name filled in).
    public let a: Endpoint
    /// The second end as created (name filled in).
    public let b: Endpoint

    private let lock = NSLock()
    private var destroyed = false

    /// Creates the pair, assigns addresses, brings both ends up; on any failure removes what it created.
    public init(_ a: Endpoint, _ b: Endpoint, mtu: Int? = nil) throws {
        for address in [a.ipv4, a.ipv6, b.ipv4, b.ipv6].compactMap({ $0 }) {
            try VethPair.checkTestRange(address)
        }
        let serial = NetworkNamespace.nextSerial()
        self.a = Endpoint(a.namespace, name: a.name ?? VethPair.uniqueName(serial: serial, side: "a"), ipv4: a.ipv4, ipv6: a.ipv6, mac: a.mac)
        self.b = Endpoint(b.namespace, name: b.name ?? VethPair.uniqueName(serial: serial, side: "b"), ipv4: b.ipv4, ipv6: b.ipv6, mac: b.mac)
        for end in [self.a, self.b] where !VethPair.isValidInterfaceName(end.name!) {
            throw TestbedError.invalidName(end.name!)
        }

        // Both ends are created directly in their namespaces, so no device ever appears in the root namespace.
        var command = ["ip", "link", "add", self.a.name!]
        command += VethPair.placement(self.a)
        if let mtu { command += ["mtu", String(mtu)] }
        command += ["type", "veth", "peer", "name", self.b.name!]
        command += VethPair.placement(self.b)
        if let mtu { command += ["mtu", String(mtu)] }
        try ProcessRunner.run(command).check()

        do {
            for end in [self.a, self.b] {
                let ip = VethPair.ipCommand(end.namespace)
                if let ipv4 = end.ipv4 {
                    try ProcessRunner.run(ip + ["-4", "addr", "add", ipv4, "dev", end.name!]).check()
                }
                if let ipv6 = end.ipv6 {
                    try ProcessRunner.run(ip + ["-6", "addr", "add", ipv6, "dev", end.name!, "nodad"]).check()
                }
                try ProcessRunner.run(ip + ["link", "set", end.name!, "up"]).check()
            }
        } catch {
            destroy()
            throw error
        }
    }

    /// Joins two namespaces with the default addresses 198.18.0.1/24, fd00::1/64 (a) and .2, ::2 (b).
    public static func connect(_ first: NetworkNamespace, _ second: NetworkNamespace, mtu: Int? = nil) throws -> VethPair {
        try VethPair(
            Endpoint(first, ipv4: "198.18.0.1/24", ipv6: "fd00::1/64"),
            Endpoint(second, ipv4: "198.18.0.2/24", ipv6: "fd00::2/64"),
            mtu: mtu)
    }

    deinit {
        destroy()
    }

    /// Deletes the pair (deleting one end deletes both); idempotent, and fine if a namespace already took it.
    public func destroy() {
        lock.withLock {
            guard !destroyed else { return }
            destroyed = true
            for end in [a, b] {
                // A destroyed namespace already took its end, and with it the peer.
                if let namespace = end.namespace, namespace.isDestroyed { return }
                if let result = try? ProcessRunner.run(VethPair.ipCommand(end.namespace) + ["link", "del", end.name!]),
                   result.succeeded {
                    return
                }
            }
        }
    }

    /// Interface name of end `a` (always set after init).
    public var nameA: String { a.name! }
    /// Interface name of end `b` (always set after init).
    public var nameB: String { b.name! }

    // MARK: Helpers

    /// "fg" + pid + "v" + serial + side in base 36: unique per process and call, within IFNAMSIZ (15 characters).
    static func uniqueName(serial: Int, side: String) -> String {
        "fg\(String(getpid(), radix: 36))v\(String(serial, radix: 36))\(side)"
    }

    /// Names the kernel accepts: 1 to 15 characters, no '/', ':' or whitespace.
    static func isValidInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count) && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace })
    }

    /// The `ip` prefix that addresses a namespace (`ip -n NAME`), or the root namespace.
    static func ipCommand(_ namespace: NetworkNamespace?) -> [String] {
        if let namespace { return ["ip", "-n", namespace.name] }
        return ["ip"]
    }

    /// `address MAC` and `netns NAME` arguments for one end of `ip link add`.
    private static func placement(_ end: Endpoint) -> [String] {
        var arguments: [String] = []
        if let mac = end.mac { arguments += ["address", mac] }
        if let namespace = end.namespace { arguments += ["netns", namespace.name] }
        return arguments
    }

    /// Throws unless `cidr` lies in 198.18.0.0/15 or fd00::/8, the ranges reserved for these tests.
    static func checkTestRange(_ cidr: String) throws {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { throw TestbedError.addressOutsideTestRanges(cidr) }
        let address = String(parts[0])
        if let v4 = PacketBuilder.IPv4Address(parsing: address) {
            guard v4.bytes[0] == 198, v4.bytes[1] & 0xFE == 18,
                  parts.count == 1 || Int(parts[1]).map({ (15...32).contains($0) }) == true else {
                throw TestbedError.addressOutsideTestRanges(cidr)
            }
        } else if let v6 = PacketBuilder.IPv6Address(parsing: address) {
            guard v6.bytes[0] == 0xFD,
                  parts.count == 1 || Int(parts[1]).map({ (8...128).contains($0) }) == true else {
                throw TestbedError.addressOutsideTestRanges(cidr)
            }
        } else {
            throw TestbedError.addressOutsideTestRanges(cidr)
        }
    }
}

extension VethPair.Endpoint {
    /// The IPv4 address without its prefix length, for ping and curl.
    public var ipv4Address: String? { ipv4.map { String($0.split(separator: "/")[0]) } }
    /// The IPv6 address without its prefix length, for ping and curl.
    public var ipv6Address: String? { ipv6.map { String($0.split(separator: "/")[0]) } }
}
