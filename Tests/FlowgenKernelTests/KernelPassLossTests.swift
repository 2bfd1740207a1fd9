import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
import FlowgenTestSupport

/// Flows end in the kernel (Templates/pass.h) without losing a packet: many UDP flows that each
/// send every 1.5 s with `--idle-timeout 1` end between almost every two packets, so packets keep
/// arriving while their flow is being ended. tcpdump counts what left over the veth, flow by flow; the exported records must hold exactly that many packets per flow
/// (every one exported, none twice), in a plain run and in a pinned run SIGKILLed over and over.
@Suite(.serialized) struct KernelPassLossTests {
    /// Sends one packet per flow every `period` seconds, the flows' sends spread evenly over the
    /// period (`198.18.0.1:sport` to `dst`, dports from `first`), `rounds` times; prints the count.
    static let spreadSender = """
    import socket, sys, time
    sport, dst, first, flows, rounds, period = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.0.1", sport))
    sent = 0
    start = time.time() + 0.2
    for r in range(rounds):
        for i in range(flows):
            delay = start + r * period + i * period / flows - time.time()
            if delay > 0: time.sleep(delay)
            s.sendto(b"k" * 40, (dst, first + i))
            sent += 1
    print(sent)
    """

    /// tcpdump on a's end of the veth, outgoing packets, writing to `file`; returns once it listens.
    /// Immediate mode: tcpdump's buffered blocks are otherwise handed over only once full or a
    /// timeout old, and the packets of a block still open when it stopped went missing (560 of
    /// the last round's, "received by filter" but not captured). On a's side, as the packet leaves (after the tc egress hook flowgen sits on, with nothing in
    /// between that could drop it): on b's side the receive backlog of this shared, loaded machine
    /// dropped a few hundred of 16,000 packets before tcpdump saw them, in some runs.
    static func startCapture(_ lab: OperationsLab, _ file: String) throws -> SpawnedProcess {
        let capture = try lab.a.spawn(["tcpdump", "-i", lab.veth.nameA, "-Q", "out", "-nn", "--immediate-mode", "-B", "65536", "-w", file, "udp and src port 7000"])
        let listening = lab.wait(20) { capture.output().contains("listening on") || !capture.isRunning }
        try #require(listening && capture.isRunning, "tcpdump did not start: \(capture.output())")
        return capture
    }

    /// Packets per destination port in the capture, as tcpdump reads it.
    static func packetsPerPort(_ file: String) throws -> [Int: Int] {
        let read = try ProcessRunner.run(["tcpdump", "-r", file, "-nn", "-q"], timeout: .seconds(60)).check()
        var counts: [Int: Int] = [:]
        for line in read.stdout.split(separator: "\n") {
            // "12:00:00.000000 IP 198.18.0.1.7000 > 198.18.0.99.10005: UDP, length 40"
            let parts = line.split(separator: " ")
            guard let arrow = parts.firstIndex(of: ">"), arrow + 1 < parts.count else { continue }
            let destination = parts[arrow + 1].dropLast() // the trailing colon
            guard let dot = destination.lastIndex(of: "."), let port = Int(destination[destination.index(after: dot)...]) else { continue }
            counts[port, default: 0] += 1
        }
        return counts
    }

    /// Packets per destination port in the exported records of the flows from port 7000.
    static func exportedPerPort(_ lab: OperationsLab, _ out: String) throws -> (perPort: [Int: Int], records: Int) {
        var counts: [Int: Int] = [:]
        var records = 0
        for flow in try lab.flows(in: out) where flow["L4_SRC_PORT"] as? Int == 7000 {
            counts[flow["L4_DST_PORT"] as? Int ?? -1, default: 0] += flow["IN_PKTS"] as? Int ?? 0
            records += 1
        }
        return (counts, records)
    }

    /// Successor directions the passes of a -v log moved (packets that came after their flow's cut).
    static func successorDirections(_ log: String) -> Int {
        log.split(separator: "\n").reduce(0) { sum, line in
            guard let range = line.range(of: " successor directions)") else { return sum }
            let before = line[..<range.lowerBound]
            return sum + (Int(before.split(separator: "(").last ?? "") ?? 0)
        }
    }

    /// Every flow: what tcpdump saw equals what was exported.
    static func compare(seen: [Int: Int], exported: [Int: Int], flows: Range<Int>, sent: Int, capture: SpawnedProcess) {
        let seenTotal = seen.values.reduce(0, +), exportedTotal = exported.values.reduce(0, +)
        #expect(seenTotal == sent, "tcpdump saw \(seenTotal) of \(sent) packets sent: \(capture.output())")
        #expect(Set(seen.keys) == Set(flows), "tcpdump saw \(seen.count) flows")
        let differing = flows.filter { seen[$0, default: 0] != exported[$0, default: 0] }
        #expect(differing.isEmpty && exportedTotal == seenTotal,
                "\(differing.count) flows differ, e.g. \(differing.prefix(5).map { "port \($0): seen \(seen[$0, default: 0]), exported \(exported[$0, default: 0])" }); \(seenTotal) seen, \(exportedTotal) exported")
    }

    @Test func twoThousandFlowsEndingWhilePacketsArriveLoseNone() throws {
        let lab = try OperationsLab(prefix: "fkloss")
        defer { lab.close() }
        try lab.addBlackhole()
        let out = lab.work + "/flows", pcap = lab.work + "/seen.pcap"
        // passes every second (the default), as in issue 18's measurement: a flow is cut 1 to 2 s
        // after its last packet, so its next one (1.5 s after it) often comes while it is ended
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--interval", "1", "--idle-timeout", "1",
                                            "--output", out, "-v", "--log", lab.work + "/run.log"])
        try lab.waitForAttach(monitor, log: lab.work + "/run.log")
        let capture = try Self.startCapture(lab, pcap)
        // 2,000 flows, one packet each every 1.5 s, 8 rounds (12 s): every flow ends between two packets
        let sender = try lab.a.spawn(["python3", "-c", Self.spreadSender, "7000", "198.18.0.99", "10000", "2000", "8", "1.5"])
        #expect(sender.wait(timeout: .seconds(60)) == 0, "\(sender.output())")
        let sent = try #require(Int(sender.output().trimmingCharacters(in: .whitespacesAndNewlines)))
        Thread.sleep(forTimeInterval: 0.5)
        kill(capture.pid, SIGINT)
        _ = capture.wait(timeout: .seconds(10))
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let log = (try? String(contentsOfFile: lab.work + "/run.log", encoding: .utf8)) ?? ""
        #expect(log.contains("flows end in the kernel"), "the kernel path must be in use: \(log.prefix(2000))")
        let (exported, records) = try Self.exportedPerPort(lab, out)
        let successors = Self.successorDirections(log)
        print("kernel pass, 2,000 flows: \(sent) sent, \(exported.values.reduce(0, +)) exported in \(records) records, \(successors) successor directions")
        #expect(records > 2000 * 4, "flows must end between packets (idle timeout 1 s, a packet every 1.5 s): \(records) records")
        #expect(successors > 0, "packets must have come while their flow was being ended (about 100 a run here), or this run proved nothing")
        Self.compare(seen: try Self.packetsPerPort(pcap), exported: exported, flows: 10000..<12000, sent: sent, capture: capture)
    }

    @Test func pinnedRunKilledAgainAndAgainLosesNone() throws {
        let lab = try OperationsLab(prefix: "fkkill")
        defer { lab.close() }
        try lab.addBlackhole()
        let out = lab.work + "/flows", pcap = lab.work + "/seen.pcap"
        let arguments = ["run", "-i", lab.veth.nameA, "--pin", "--interval", "1", "--idle-timeout", "1", "--output", out, "-v"]
        var collector = try lab.spawnFlowgen(arguments + ["--log", lab.work + "/0.log"])
        try lab.waitForAttach(collector, log: lab.work + "/0.log")
        let capture = try Self.startCapture(lab, pcap)
        // 1,000 flows, one packet each every 1.5 s, 10 rounds (15 s); the collector is killed at
        // uneven moments (mid-pass among them) and started again each time
        let sender = try lab.a.spawn(["python3", "-c", Self.spreadSender, "7000", "198.18.0.99", "10000", "1000", "10", "1.5"])
        var restarts = 0
        var adoptions = 0
        let pauses = [0.7, 1.1, 0.45, 1.3, 0.9, 0.55, 1.2, 0.8, 0.6, 1.0, 0.5, 1.15]
        while sender.wait(timeout: .milliseconds(1)) == nil && restarts < pauses.count {
            Thread.sleep(forTimeInterval: pauses[restarts])
            kill(collector.pid, SIGKILL)
            #expect(collector.wait(timeout: .seconds(10)) != nil)
            restarts += 1
            let log = lab.work + "/\(restarts).log"
            collector = try lab.spawnFlowgen(arguments + ["--log", log])
            let adopted = lab.wait(30) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("adopted pinned instance") }
            if adopted { adoptions += 1 }
            #expect(adopted, "restart \(restarts) did not adopt: \(collector.output())")
        }
        #expect(sender.wait(timeout: .seconds(60)) == 0, "\(sender.output())")
        let sent = try #require(Int(sender.output().trimmingCharacters(in: .whitespacesAndNewlines)))
        Thread.sleep(forTimeInterval: 0.5)
        kill(capture.pid, SIGINT)
        _ = capture.wait(timeout: .seconds(10))
        kill(collector.pid, SIGINT)
        #expect(collector.wait(timeout: .seconds(30)) == 0, "\(collector.output())")
        #expect(restarts >= 8, "the collector was killed \(restarts) times")
        let (exported, records) = try Self.exportedPerPort(lab, out)
        let successors = (0...restarts).reduce(0) { sum, i in
            sum + Self.successorDirections((try? String(contentsOfFile: lab.work + "/\(i).log", encoding: .utf8)) ?? "")
        }
        print("kernel pass, pinned, \(restarts) SIGKILLs (\(adoptions) adoptions): \(sent) sent, \(exported.values.reduce(0, +)) exported in \(records) records, \(successors) successor directions")
        Self.compare(seen: try Self.packetsPerPort(pcap), exported: exported, flows: 10000..<11000, sent: sent, capture: capture)
        let ids = try lab.flows(in: out).compactMap { $0["FLOW_ID"] as? Int }
        #expect(Set(ids).count == ids.count, "FLOW_ID must stay unique across the restarts")
        #expect(OperationsLab.isGone(instance: lab.instance))
    }
}
