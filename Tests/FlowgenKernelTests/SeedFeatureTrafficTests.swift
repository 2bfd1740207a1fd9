import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// A TC program of the test's own that drops about 1 in 20 TCP segments carrying data to or from
/// port 9000, so Linux TCP retransmits across it (the kernel here has no netem).
let lossyLinkProgram = """
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int drop_some(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return TC_ACT_OK;
    struct tcphdr *th;
    __u32 payload;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl != 5)
            return TC_ACT_OK;
        th = (void *)(ip + 1);
        if ((void *)(th + 1) > end)
            return TC_ACT_OK;
        payload = bpf_ntohs(ip->tot_len) - 20 - th->doff * 4;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
            return TC_ACT_OK;
        th = (void *)(ip6 + 1);
        if ((void *)(th + 1) > end)
            return TC_ACT_OK;
        payload = bpf_ntohs(ip6->payload_len) - th->doff * 4;
    } else {
        return TC_ACT_OK;
    }
    if (th->source != bpf_htons(9000) && th->dest != bpf_htons(9000))
        return TC_ACT_OK;
    if (payload > 0 && payload < 65536 && bpf_get_prandom_u32() % 20 == 0)
        return TC_ACT_SHOT;
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
"""

/// Both ends send `n` bytes at once over one connection, then close (argv: role, address, n).
let bulkExchangeScript = """
import socket, sys, threading, time
role, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
if role == "server":
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, 9000))
    srv.listen(1)
    conn, _ = srv.accept()
else:
    deadline = time.time() + 10
    while True:
        try:
            conn = socket.create_connection((addr, 9000), timeout=10)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
conn.settimeout(30)
received = [0]
def receive():
    while received[0] < n:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        received[0] += len(chunk)
reader = threading.Thread(target=receive)
reader.start()
block = b"\\x5a" * (1 << 16)
sent = 0
while sent < n:
    sent += conn.send(block[: min(len(block), n - sent)])
reader.join()
conn.shutdown(socket.SHUT_WR)
conn.recv(1)
conn.close()
print(received[0])
"""

/// Real TCP over a lossy veth pair: flowgen's retransmitted + out-of-order packets per direction
/// against what tshark flags (`tcp.analysis.retransmission || tcp.analysis.out_of_order`) in a
/// capture taken on the same interface, for IPv4 and IPv6.
@Suite(.serialized) struct SeedFeatureTrafficTests {
    struct Counts { var flowgen: (in: UInt64, out: UInt64); var tshark: (in: Int, out: Int) }

    func exchange(v6: Bool, bytes: Int) throws -> Counts {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let work = NSTemporaryDirectory() + "fgseed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        // client a -- router r -- server b. The router drops: a drop at a sender's own egress
        // would be reported back to its TCP, which then sends the segment again as new data.
        let a = try NetworkNamespace(prefix: "fgseed")
        defer { try? a.destroy() }
        let r = try NetworkNamespace(prefix: "fgseed")
        defer { try? r.destroy() }
        let b = try NetworkNamespace(prefix: "fgseed")
        defer { try? b.destroy() }
        let left = try VethPair(.init(a, ipv4: "198.18.0.1/24", ipv6: "fd00::1/64"), .init(r, ipv4: "198.18.0.254/24", ipv6: "fd00::fe/64"))
        let right = try VethPair(.init(r, ipv4: "198.18.1.254/24", ipv6: "fd00:0:0:1::fe/64"), .init(b, ipv4: "198.18.1.2/24", ipv6: "fd00:0:0:1::2/64"))
        try r.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]).check()
        try a.exec(["ip", "route", "add", "198.18.1.0/24", "via", "198.18.0.254"]).check()
        try a.exec(["ip", "-6", "route", "add", "fd00:0:0:1::/64", "via", "fd00::fe"]).check()
        try b.exec(["ip", "route", "add", "198.18.0.0/24", "via", "198.18.1.254"]).check()
        try b.exec(["ip", "-6", "route", "add", "fd00::/64", "via", "fd00:0:0:1::fe"]).check()
        // one wire packet per skb, so tshark's frames and flowgen's packets count the same things
        for (ns, dev) in [(a, left.nameA), (b, right.nameB)] {
            try ns.exec(["ip", "link", "set", dev, "gso_max_segs", "1"]).check()
        }

        // the lossy link: the router drops on both of its ingresses, so a's capture sees every
        // segment a sent (some then lost) and only the survivors of what b sent
        try (lossyLinkProgram).write(toFile: work + "/drop.bpf.c", atomically: true, encoding: .utf8)
        let clang = try ClangCompiler().clangPath()
        let include = ClangCompiler.multiarchIncludeDirectory().map { ["-I" + $0] } ?? []
        try ProcessRunner.run([clang, "-O2", "-g", "-target", "bpf"] + include + ["-c", work + "/drop.bpf.c", "-o", work + "/drop.o"]).check()
        for dev in [left.nameB, right.nameA] {
            try r.exec(["tc", "qdisc", "add", "dev", dev, "clsact"]).check()
            try r.exec(["tc", "filter", "add", "dev", dev, "ingress", "bpf", "direct-action", "obj", work + "/drop.o", "sec", "tc"]).check()
        }
        let dev = left.nameA

        let capture = try a.spawn(["tcpdump", "-i", dev, "-w", work + "/cap.pcap", "-U", "--immediate-mode", "-n", "-s", "128",
                                   "-B", "16384", "tcp", "port", "9000"])
        defer { capture.terminate() }
        let monitor = try a.spawn([flowgen, "run", "-i", dev, "--features", "seed", "--interval", "0",
                                   "--output", work + "/flows", "--log", work + "/flowgen.log", "-q"])
        defer { monitor.terminate() }
        try #require(try waitUntil(20) { try a.exec(["tc", "filter", "show", "dev", dev, "egress"]).stdout.contains("bpf") },
                     "flowgen did not attach to \(dev): \(monitor.output())")
        try #require(tcpdumpListens(capture), "tcpdump did not open its capture: \(capture.output())")

        let serverAddress = v6 ? "fd00:0:0:1::2" : "198.18.1.2"
        let server = try b.spawn(["python3", "-c", bulkExchangeScript, "server", serverAddress, String(bytes)])
        defer { server.terminate() }
        let client = try a.exec(["python3", "-c", bulkExchangeScript, "client", serverAddress, String(bytes)], timeout: .seconds(60)).check()
        #expect(client.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(bytes))
        #expect(server.wait(timeout: .seconds(10)) == 0, "server: \(server.output())")
        // the last ACKs have passed, and tcpdump has written them
        #expect(waitUntil(10) { tcpConnectionsClosed([a, b], port: 9000) }, "the exchange's connection still open after 10 s")
        #expect(fileSettles(work + "/cap.pcap"), "tcpdump kept writing for 10 s")

        kill(monitor.pid, SIGINT)
        let status = monitor.wait(timeout: .seconds(20))
        let log = (try? String(contentsOfFile: work + "/flowgen.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "flowgen: \(monitor.output()) \(log)")
        kill(capture.pid, SIGINT)
        _ = capture.wait(timeout: .seconds(10))
        #expect(capture.output().contains("\n0 packets dropped by kernel"), "tcpdump lost packets: \(capture.output())")

        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/flows")
        let text = try String(contentsOfFile: work + "/flows/" + #require(files.first), encoding: .utf8)
        let flows = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // the connection itself, not the client's connection attempts refused before the server listened
        let flow = try #require(flows.filter { $0["L4_DST_PORT"] as? Int == 9000 && $0["PROTOCOL"] as? Int == 6 }
            .max { ($0["IN_PKTS"] as? Int ?? 0) < ($1["IN_PKTS"] as? Int ?? 0) }, "\(text)")
        func n(_ key: String) -> UInt64 { UInt64(flow[key] as? Int ?? -1) }
        let clientPort = try #require(flow["L4_SRC_PORT"] as? Int)

        // one pass: every segment tshark flags, with which flags (a field prints 1 when present)
        let tshark = try ProcessRunner.run(["tshark", "-n", "-r", work + "/cap.pcap", "-Y",
                                            "tcp.analysis.retransmission || tcp.analysis.out_of_order || tcp.analysis.spurious_retransmission",
                                            "-T", "fields", "-E", "separator=,", "-e", "tcp.srcport", "-e", "tcp.analysis.retransmission",
                                            "-e", "tcp.analysis.out_of_order", "-e", "tcp.analysis.spurious_retransmission"],
                                           timeout: .seconds(60)).check()
        let rows = tshark.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        func tally(_ port: Int, _ column: Int) -> Int { rows.filter { Int($0[0]) == port && $0.count > column && !$0[column].isEmpty }.count }
        // what the issue compares: tcp.analysis.retransmission || tcp.analysis.out_of_order
        func flagged(_ port: Int) -> Int { rows.filter { Int($0[0]) == port && $0.count > 2 && (!$0[1].isEmpty || !$0[2].isEmpty) }.count }
        let counts = Counts(flowgen: (n("RETRANSMITTED_IN_PKTS") + n("OOORDER_IN_PKTS"), n("RETRANSMITTED_OUT_PKTS") + n("OOORDER_OUT_PKTS")),
                            tshark: (flagged(clientPort), flagged(9000)))
        print("""
            seed retransmissions over \(v6 ? "IPv6" : "IPv4"), \(bytes) bytes each way, \(n("IN_PKTS"))/\(n("OUT_PKTS")) packets: \
            IN flowgen \(counts.flowgen.in) (retransmitted \(n("RETRANSMITTED_IN_PKTS")), out of order \(n("OOORDER_IN_PKTS"))) \
            tshark \(counts.tshark.in) (retransmission \(tally(clientPort, 1)), out of order \(tally(clientPort, 2)), \
            spurious \(tally(clientPort, 3))); \
            OUT flowgen \(counts.flowgen.out) (retransmitted \(n("RETRANSMITTED_OUT_PKTS")), out of order \(n("OOORDER_OUT_PKTS"))) \
            tshark \(counts.tshark.out) (retransmission \(tally(9000, 1)), out of order \(tally(9000, 2)), spurious \(tally(9000, 3)))
            """)
        // the capture and flowgen saw the same packets
        let captured = try ProcessRunner.run(["tshark", "-n", "-r", work + "/cap.pcap", "-Y", "tcp.port == \(clientPort)",
                                              "-T", "fields", "-e", "frame.number"], timeout: .seconds(60)).check()
            .stdout.split(separator: "\n").count
        #expect(n("IN_PKTS") + n("OUT_PKTS") == UInt64(captured),
                "flowgen \(n("IN_PKTS")) + \(n("OUT_PKTS")) packets, capture \(captured): \(capture.output()) \(flows.count) flows")
        return counts
    }

    func expectWithinTenPercent(_ counts: Counts) {
        for (mine, theirs, name) in [(counts.flowgen.in, counts.tshark.in, "IN"), (counts.flowgen.out, counts.tshark.out, "OUT")] {
            #expect(theirs >= 20, "\(name): too few retransmissions (\(theirs)) to compare; the drop program did not bite")
            let diff = abs(Double(mine) - Double(theirs))
            #expect(diff <= 0.1 * Double(theirs), "\(name): flowgen \(mine) vs tshark \(theirs)")
        }
    }

    @Test func retransmissionsMatchTsharkOverIPv4() throws {
        expectWithinTenPercent(try exchange(v6: false, bytes: 4 << 20))
    }

    @Test func retransmissionsMatchTsharkOverIPv6() throws {
        expectWithinTenPercent(try exchange(v6: true, bytes: 4 << 20))
    }
}
