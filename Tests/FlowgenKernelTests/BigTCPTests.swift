import Foundation
import Testing
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// IPv6 BIG TCP live: with a GSO limit above 64 KiB the sender's skbs carry payload length 0 and a
/// hop-by-hop jumbo header, which segmentation removes. flowgen must count what the wire carries.
/// The oracle is the kernel's own TCP statistics of each namespace (/proc/net/snmp, OutSegs: the
/// segments sent, GSO skbs counted as their wire segments) and the bytes the client wrote:
/// RFC 8200 and RFC 9293 give every segment's headers (IPv6 40 bytes, TCP 20 plus Linux's options:
/// 12 of timestamps on every segment, 20 on SYN and SYN-ACK: MSS, SACK-permitted, timestamps,
/// window scale).
@Suite(.serialized) struct BigTCPTests {
    /// The TCP counters of `ns` (the `Tcp:` lines of /proc/net/snmp, which the namespace owns).
    static func tcpCounters(_ ns: NetworkNamespace) throws -> [String: Int] {
        let text = try ns.exec(["cat", "/proc/net/snmp"]).check().stdout
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        try #require(lines.count == 2, "no Tcp lines in /proc/net/snmp: \(text)")
        let names = lines[0].split(separator: " ").dropFirst().map(String.init)
        let values = lines[1].split(separator: " ").dropFirst().map { Int($0) ?? -1 }
        return Dictionary(uniqueKeysWithValues: zip(names, values))
    }

    @Test func bigTCPSegmentsAreCountedAsTheWireCarriesThem() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let hosts = try NamespacePair(prefix: "fgbig")
        defer { hosts.close() }
        let (client, server, pair) = (hosts.a, hosts.b, hosts.veth)
        // BIG TCP: GSO skbs up to 150,000 bytes leave the client, GRO builds them on the server
        try client.exec(["ip", "link", "set", pair.a.name!, "gso_max_size", "150000"]).check()
        try server.exec(["ip", "link", "set", pair.b.name!, "gro_max_size", "150000"]).check()

        let out = NSTemporaryDirectory() + "fgbig-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let monitor = try client.spawn([flowgen, "run", "-i", pair.a.name!, "--duration", "600", "--interval", "0",
                                        "-q", "--format", "json", "--output", out])
        defer { monitor.terminate() }
        let attached = try waitUntil(10) { try client.exec(["tc", "filter", "show", "dev", pair.a.name!, "egress"]).stdout.contains("bpf") }
        try #require(attached, "flowgen did not attach: \(monitor.output())")

        let payload = 10_000_000
        let receiver = try server.spawn(["python3", "-c", """
            import socket
            s = socket.socket(socket.AF_INET6); s.bind(('fd00::2', 5001)); s.listen(1)
            c, _ = s.accept(); n = 0
            while True:
                d = c.recv(1 << 20)
                if not d: break
                n += len(d)
            c.close(); print(n)
            """])
        defer { receiver.terminate() }
        // listening, seen without connecting (a probe connection would be the one accepted)
        let listening = try waitUntil(10) { try server.exec(["ss", "-Hltn", "sport = :5001"]).stdout.contains("5001") }
        try #require(listening, "the receiver did not listen: \(receiver.output())")
        let clientStart = try Self.tcpCounters(client), serverStart = try Self.tcpCounters(server)
        // the client's own view of what it sent (struct tcp_info of linux/tcp.h: tcpi_segs_out at
        // byte 136, tcpi_bytes_sent at 200): retransmissions, which a loaded machine can cause on a
        // veth, are in both, so the client's direction stays exact whatever happens
        let sent = try client.exec(["python3", "-c", """
            import socket, struct
            s = socket.create_connection(('fd00::2', 5001)); s.sendall(b'x' * \(payload))
            s.shutdown(socket.SHUT_WR); s.recv(1)
            i = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
            print(struct.unpack_from('=I', i, 136)[0], struct.unpack_from('=Q', i, 200)[0]); s.close()
            """], timeout: .seconds(120))
        try #require(sent.status == 0, "client: \(sent.stderr)")
        let info = sent.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(info.count == 2, "client: \(sent.stdout)")
        let (segsOut, bytesSent) = (info[0], info[1])
        #expect(receiver.wait(timeout: .seconds(30)) == 0)
        #expect(receiver.output().contains("\(payload)"), "\(receiver.output())")
        // stopped once the transfer is over, however long a loaded machine took: it exports what it holds
        kill(monitor.pid, SIGTERM)
        #expect(monitor.wait(timeout: .seconds(60)) == 0, "\(monitor.output())")
        let clientEnd = try Self.tcpCounters(client), serverEnd = try Self.tcpCounters(server)
        // OutSegs leaves retransmitted segments out (they are RetransSegs: tcp_transmit_skb counts a
        // segment in OutSegs only past snd_nxt), the wire and tcpi_segs_out carry both
        let clientRetrans = clientEnd["RetransSegs"]! - clientStart["RetransSegs"]!
        let serverRetrans = serverEnd["RetransSegs"]! - serverStart["RetransSegs"]!
        let clientSegs = clientEnd["OutSegs"]! - clientStart["OutSegs"]! + clientRetrans
        let serverSegs = serverEnd["OutSegs"]! - serverStart["OutSegs"]! + serverRetrans
        let retransmitted = clientRetrans + serverRetrans
        #expect(segsOut == clientSegs, "the socket and the namespace agree on the segments sent")
        #expect(retransmitted > 0 || bytesSent == payload)

        let text = try FileManager.default.contentsOfDirectory(atPath: out).map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }.joined()
        let flows = try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let flow = try #require(flows.first { $0["PROTOCOL"] as? Int == 6 && $0["L4_DST_PORT"] as? Int == 5001 }, "\(text)")
        // IPv6 40 + TCP 32 (timestamps) per segment; SYN and SYN-ACK have 8 option bytes more
        #expect(flow["IN_PKTS"] as? Int == clientSegs, "\(flow)")
        #expect(flow["IN_BYTES"] as? Int == bytesSent + 72 * clientSegs + 8, "\(flow)")
        #expect(flow["OUT_PKTS"] as? Int == serverSegs, "\(flow)")
        // the server's ACKs: 72 bytes each (SYN-ACK 80), plus a SACK option (RFC 2018: two NOPs, kind,
        // length, 8 bytes a block, at most 3 blocks with timestamps) on each ACK sent after a loss
        // or a reordering, which a loaded machine's veth can cause without any retransmission
        let extra = (flow["OUT_BYTES"] as? Int ?? 0) - (72 * serverSegs + 8)
        #expect(extra >= 0 && extra % 4 == 0 && extra <= 28 * serverSegs, "\(flow)")
        #expect(!monitor.output().contains("bad_ipv6") && !monitor.output().contains("truncated"), "\(monitor.output())")
    }
}
