import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// Waits for what a test needs (a filter attached, a socket listening, a line in a log, a flow
/// exported) instead of sleeping a fixed time, which is too short on a loaded machine and wasted
/// on an idle one: polls `condition` every `interval` seconds until it holds (true) or `timeout`
/// seconds pass (false, after one last look). The test says what failed: `#require(waitUntil(...), "...")`.
func waitUntil(_ timeout: Double, every interval: Double = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return try condition()
}

/// True once tcpdump has opened its capture (it says "listening on DEVICE" on stderr then), so the
/// traffic a test sends next is in the capture.
func tcpdumpListens(_ tcpdump: SpawnedProcess, timeout: Double = 10) -> Bool {
    waitUntil(timeout) { tcpdump.output().contains("listening on") }
}

/// True when a flow file in `directory` holds a line containing every one of `parts` (e.g. a flow's
/// port and its end reason): what a test waits for before it stops a run that exports while running.
func flowFilesHaveLine(in directory: String, containing parts: [String]) -> Bool {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return files.contains { name in
        ((try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n")
            .contains { line in parts.allSatisfy { line.contains($0) } }
    }
}

/// True when nothing waits in the receive queue of the UDP socket bound to `port` in `ns` (`ss`
/// shows Recv-Q 0): a collector has read every datagram sent to it so far.
func udpQueueDrained(_ ns: NetworkNamespace, port: UInt16) -> Bool {
    guard let out = try? ns.exec(["ss", "-Hunl", "sport = :\(port)"]).stdout else { return false }
    let rows = out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
    return !rows.isEmpty && rows.allSatisfy { $0.count > 1 && $0[1] == "0" }
}

/// True when no TCP connection on `port` in any of `namespaces` is still closing or open: every
/// one is gone or in TIME-WAIT, whose side sent the last ACK, so the last segments have passed.
func tcpConnectionsClosed(_ namespaces: [NetworkNamespace], port: UInt16) -> Bool {
    namespaces.allSatisfy { ns in
        guard let out = try? ns.exec(["ss", "-Htan", "( sport = :\(port) or dport = :\(port) )"]).stdout else { return false }
        return out.split(separator: "\n").allSatisfy { $0.hasPrefix("LISTEN") || $0.hasPrefix("TIME-WAIT") }
    }
}

/// Waits until the file at `path` has stopped growing (the same size 0.2 s apart), for a capture
/// written packet by packet (tcpdump -U --immediate-mode) to hold the packets that were sent.
func fileSettles(_ path: String, timeout: Double = 10) -> Bool {
    func size() -> Int64 { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? -1 }
    var last = size()
    return waitUntil(timeout, every: 0.2) {
        let now = size()
        defer { last = now }
        return now >= 0 && now == last
    }
}
