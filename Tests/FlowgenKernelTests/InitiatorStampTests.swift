import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The initiator of a biflow is the direction whose first packet came first, even when the two
/// first packets come within one tick of the coarse clock (1-4 ms) that stamps the other packets:
/// the entry program stamps a new flow's first packet with the precise clock.
@Suite(.serialized) struct InitiatorStampTests {
    /// Sends `frames` back to back out of `interface` (an AF_PACKET socket in one python3
    /// process, as the other live tests inject frames) in `ns`.
    static func sendRaw(_ frames: [[UInt8]], interface: String, in ns: NetworkNamespace) throws {
        let hex = frames.map { "'" + $0.map { String(format: "%02x", $0) }.joined() + "'" }.joined(separator: ",")
        let r = try ns.exec(["python3", "-c", "import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); "
                             + "s.bind(('\(interface)', 0)); [s.send(bytes.fromhex(f)) for f in [\(hex)]]"])
        try #require(r.status == 0, "python3 AF_PACKET sender: \(r.stderr)")
    }

    @Test func theFirstDirectionIsTheInitiatorWithinOneTick() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let ns = try NetworkNamespace(prefix: "hprs")
        defer { try? ns.destroy() }
        for argv in [["ip", "link", "add", "hprsva", "type", "veth", "peer", "name", "hprsvb"],
                     ["ip", "link", "set", "hprsva", "up"], ["ip", "link", "set", "hprsvb", "up"]] {
            let r = try ns.exec(argv)
            try #require(r.status == 0, "\(argv.joined(separator: " ")): \(r.stderr)")
        }
        let out = NSTemporaryDirectory() + "hprs-init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let monitor = try ns.spawn([flowgen, "run", "-i", "hprsva", "--direction", "ingress", "--duration", "4", "--interval", "0",
                                    "-q", "--format", "json", "--output", out])
        defer { monitor.terminate() }
        let attached = try waitUntil(10) { try ns.exec(["tc", "filter", "show", "dev", "hprsva", "ingress"]).stdout.contains("bpf") }
        try #require(attached, "flowgen did not attach: \(monitor.output())")

        // per pair: A (the lower port, which the tie-break on equal times would name the responder)
        // sends first, B answers a few µs later, well inside one tick
        let pairs = 8
        var frames: [[UInt8]] = []
        for i in 0..<pairs {
            let low = UInt16(1000 + i), high = UInt16(40000 + i)
            frames.append(Packet.ethernet().ipv4(src: "198.18.9.2", dst: "198.18.9.1").udp(sport: low, dport: high, payload: [1]).bytes())
            frames.append(Packet.ethernet().ipv4(src: "198.18.9.1", dst: "198.18.9.2").udp(sport: high, dport: low, payload: [2]).bytes())
        }
        try Self.sendRaw(frames, interface: "hprsvb", in: ns)

        #expect(monitor.wait(timeout: .seconds(30)) == 0, "\(monitor.output())")
        let text = try FileManager.default.contentsOfDirectory(atPath: out).map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }.joined()
        // (the veths' own IPv6 neighbour and multicast listener messages are other flows)
        let flows = try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            .filter { $0["PROTOCOL"] as? Int == 17 && $0["IP_PROTOCOL_VERSION"] as? Int == 4 }
        #expect(flows.count == pairs, "\(text)")
        for flow in flows {
            #expect(flow["IPV4_SRC_ADDR"] as? String == "198.18.9.2" && (flow["L4_SRC_PORT"] as? Int ?? 0) < 40000
                    && flow["IN_PKTS"] as? Int == 1 && flow["OUT_PKTS"] as? Int == 1, "the initiator is the first sender: \(flow)")
            let start = flow["FLOW_START_MICROSECONDS"] as? Int ?? 0, end = flow["FLOW_END_MICROSECONDS"] as? Int ?? 0
            #expect(end >= start, "\(flow)")
        }
    }
}
