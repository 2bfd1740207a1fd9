import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
#if canImport(Glibc)
import Glibc
@testable import FlowgenTestSupport
#endif

/// `flowgen run` on a device without an Ethernet header (a tun device, `link/none`, like WireGuard,
/// ipip and GRE): packets the test writes into the tun are received by the kernel (ingress), the
/// replies the kernel sends out through it are read back by the test (egress), and the exported
/// biflows count exactly those packets and their IP bytes.
@Suite(.serialized) struct TunDeviceTests {
    /// A tun device (IFF_TUN | IFF_NO_PI: packets start at the IP header) created in the calling
    /// thread's network namespace; the fd reads what the kernel sends and writes what it receives.
    static func openTun(_ name: String) throws -> Int32 {
        let fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw TestbedError.systemCall("open(/dev/net/tun)", errno: errno) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (i, byte) in name.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        request.ifr_ifru.ifru_flags = 0x0001 | 0x1000 // IFF_TUN | IFF_NO_PI (linux/if_tun.h)
        let tunsetiff: UInt = 0x4004_54CA // _IOW('T', 202, int)
        guard withUnsafeMutablePointer(to: &request, { ioctl(fd, tunsetiff, $0) }) == 0 else {
            let code = errno
            close(fd)
            throw TestbedError.systemCall("ioctl(TUNSETIFF \(name))", errno: code)
        }
        return fd
    }

    /// Every packet the kernel sent out through the tun within `seconds`.
    static func drain(_ fd: Int32, seconds: Double) -> [[UInt8]] {
        var packets: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { packets.append(Array(buffer[..<n])) }
        }
        return packets
    }

    /// A UDP socket bound to `address`:`port` in the calling thread's namespace.
    static func udpSocket(_ address: String, _ port: UInt16) throws -> Int32 {
        let v6 = address.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestbedError.systemCall("socket", errno: errno) }
        var storage = sockaddr_storage()
        let length = Self.fill(&storage, address, port)
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else { let code = errno; close(fd); throw TestbedError.systemCall("bind \(address):\(port)", errno: code) }
        return fd
    }

    static func fill(_ storage: inout sockaddr_storage, _ address: String, _ port: UInt16) -> socklen_t {
        if address.contains(":") {
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa in
                    sa.pointee.sin6_family = sa_family_t(AF_INET6)
                    sa.pointee.sin6_port = port.bigEndian
                    inet_pton(AF_INET6, address, &sa.pointee.sin6_addr)
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
        }
        return withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa in
                sa.pointee.sin_family = sa_family_t(AF_INET)
                sa.pointee.sin_port = port.bigEndian
                inet_pton(AF_INET, address, &sa.pointee.sin_addr)
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
    }

    static func send(_ fd: Int32, _ payload: [UInt8], to address: String, _ port: UInt16) throws {
        var storage = sockaddr_storage()
        let length = fill(&storage, address, port)
        let sent = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, length) }
        }
        guard sent == payload.count else { throw TestbedError.systemCall("sendto \(address):\(port)", errno: errno) }
    }

    /// Receives one datagram within 2 s (so the packet written into the tun did reach the socket).
    static func receive(_ fd: Int32) -> Int {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 2000) > 0 else { return -1 }
        var buffer = [UInt8](repeating: 0, count: 2048)
        return recv(fd, &buffer, buffer.count, 0)
    }

    @Test func flowsOnATunDeviceCountWhatWentInAndOut() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let ns = try NetworkNamespace(prefix: "hprs")
        defer { try? ns.destroy() }
        let tunName = "hprstun0"
        let tun = try ns.run { try Self.openTun(tunName) }
        defer { close(tun) }
        for argv in [["ip", "addr", "add", "198.18.7.1/24", "dev", tunName],
                     ["ip", "-6", "addr", "add", "fd00:7::1/64", "dev", tunName, "nodad"],
                     ["ip", "link", "set", tunName, "up"]] {
            let r = try ns.exec(argv)
            try #require(r.status == 0, "\(argv.joined(separator: " ")): \(r.stderr)")
        }
        let type = try ns.run { try LinkLayer.of(interface: tunName) }
        #expect(type == .none)

        let out = NSTemporaryDirectory() + "hprs-tun-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let monitor = try ns.spawn([flowgen, "run", "-i", tunName, "--features", "icmp", "--duration", "6", "--interval", "0",
                                    "-q", "--format", "json", "--output", out])
        defer { monitor.terminate() }
        let attached = try waitUntil(10) { try ns.exec(["tc", "filter", "show", "dev", tunName, "egress"]).stdout.contains("bpf") }
        try #require(attached, "flowgen did not attach to \(tunName): \(monitor.output())")

        // in: written into the tun (the kernel receives them); out: the replies the kernel sends through it
        let v4In = [10, 20, 30], v4Out = [100, 200], v6In = [8, 16], v6Out = [32]
        let sent = try ns.run { () throws -> [[UInt8]] in
            let s4 = try Self.udpSocket("198.18.7.1", 5000), s6 = try Self.udpSocket("fd00:7::1", 5001)
            defer { close(s4); close(s6) }
            for size in v4In {
                let packet = Packet.raw().ipv4(src: "198.18.7.2", dst: "198.18.7.1")
                    .udp(sport: 4000, dport: 5000, payload: [UInt8](repeating: 0x41, count: size)).bytes()
                #expect(write(tun, packet, packet.count) == packet.count)
                #expect(Self.receive(s4) == size, "the IPv4 datagram written into the tun did not arrive")
            }
            for size in v6In {
                let packet = Packet.raw().ipv6(src: "fd00:7::2", dst: "fd00:7::1")
                    .udp(sport: 4001, dport: 5001, payload: [UInt8](repeating: 0x42, count: size)).bytes()
                #expect(write(tun, packet, packet.count) == packet.count)
                #expect(Self.receive(s6) == size, "the IPv6 datagram written into the tun did not arrive")
            }
            for size in v4Out { try Self.send(s4, [UInt8](repeating: 0x43, count: size), to: "198.18.7.2", 4000) }
            for size in v6Out { try Self.send(s6, [UInt8](repeating: 0x44, count: size), to: "fd00:7::2", 4001) }
            return Self.drain(tun, seconds: 1)
        }
        // what the kernel sent out, by hand: IPv4 total length / IPv6 payload length + 40 of each
        // UDP packet to the two peers (other packets, e.g. MLD reports, are left aside)
        func udpTo(_ v6: Bool, _ port: UInt16) -> [Int] {
            sent.filter { p in
                v6 ? p.count >= 48 && p[0] >> 4 == 6 && p[6] == 17 && UInt16(p[42]) << 8 | UInt16(p[43]) == port
                   : p.count >= 28 && p[0] >> 4 == 4 && p[9] == 17 && UInt16(p[22]) << 8 | UInt16(p[23]) == port
            }.map { v6 ? (Int($0[4]) << 8 | Int($0[5])) + 40 : Int($0[2]) << 8 | Int($0[3]) }
        }
        let out4 = udpTo(false, 4000), out6 = udpTo(true, 4001)
        #expect(out4 == v4Out.map { 20 + 8 + $0 } && out6 == v6Out.map { 40 + 8 + $0 }, "read from the tun: \(out4) \(out6)")

        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        let text = try files.map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }.joined()
        let flows = try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        func flow(_ src: String, _ sport: Int) -> [String: Any]? {
            flows.first { ($0["IPV4_SRC_ADDR"] as? String ?? $0["IPV6_SRC_ADDR"] as? String) == src && $0["L4_SRC_PORT"] as? Int == sport }
        }
        let f4 = try #require(flow("198.18.7.2", 4000), "no IPv4 flow in \(text)")
        #expect(f4["IN_PKTS"] as? Int == v4In.count && f4["IN_BYTES"] as? Int == v4In.map { 28 + $0 }.reduce(0, +), "\(f4)")
        #expect(f4["OUT_PKTS"] as? Int == out4.count && f4["OUT_BYTES"] as? Int == out4.reduce(0, +), "\(f4)")
        let f6 = try #require(flow("fd00:7::2", 4001), "no IPv6 flow in \(text)")
        #expect(f6["IN_PKTS"] as? Int == v6In.count && f6["IN_BYTES"] as? Int == v6In.map { 48 + $0 }.reduce(0, +), "\(f6)")
        #expect(f6["OUT_PKTS"] as? Int == out6.count && f6["OUT_BYTES"] as? Int == out6.reduce(0, +), "\(f6)")
    }
}
