import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Two namespaces joined by a veth pair, with flowgen run inside `a` through `nsenter --net` (not
/// `ip netns exec`, which remounts /sys without the BPF filesystem that pins need). Everything it
/// created — processes, pins and state of its instances, namespaces — goes in `close()`.
final class OperationsLab: @unchecked Sendable {
    /// The namespaces, their veth pair and the work folder (the end-to-end tests' one fixture).
    let hosts: NamespacePair
    var a: NetworkNamespace { hosts.a }
    var b: NetworkNamespace { hosts.b }
    var veth: VethPair { hosts.veth }
    var work: String { hosts.work }
    let flowgen: String
    private var spawned: [SpawnedProcess] = []

    init(prefix: String = "fgops") throws {
        try requireRoot()
        flowgen = try flowgenBinary()
        hosts = try NamespacePair(prefix: prefix)
    }

    /// The default instance name of flowgen on `veth.nameA` inside `a`.
    var instance: String { "\(veth.nameA)@\(a.name)" }

    /// `nsenter --net=<a>`: network namespace only.
    var enterA: [String] { ["nsenter", "--net=" + a.path] }

    /// Runs flowgen inside `a` and waits.
    @discardableResult
    func flowgen(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> ProcessResult {
        try ProcessRunner.run(enterA + [flowgen] + arguments, timeout: timeout)
    }

    /// Starts flowgen inside `a`; terminated in `close()` at the latest.
    func spawnFlowgen(_ arguments: [String]) throws -> SpawnedProcess {
        let process = try SpawnedProcess(argv: [flowgen] + arguments, launcher: enterA)
        spawned.append(process)
        return process
    }

    /// Runs python3 code inside a namespace and returns its stdout, trimmed.
    func python(_ ns: NetworkNamespace, _ code: String, _ arguments: [String] = [], timeout: Duration = .seconds(120)) throws -> String {
        try ns.exec(["python3", "-c", code] + arguments, timeout: timeout).check().stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until `condition` holds; false after `timeout` seconds (see `waitUntil`).
    func wait(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        try waitUntil(timeout, condition)
    }

    /// True when flowgen's filter (a direct-action BPF program at handle 0xf10e) sits on
    /// `device`'s `direction` hook in `a`; other filters, such as the classic BPF ones tests put
    /// there as someone else's, do not count.
    func hasFilter(_ device: String, _ direction: String = "ingress") throws -> Bool {
        try a.exec(["tc", "filter", "show", "dev", device, direction]).stdout.split(separator: "\n")
            .contains { $0.contains("handle 0xf10e") && $0.contains("direct-action") }
    }

    /// Waits for flowgen's filter on veth a (compilation may take a while on a cold cache).
    func waitForAttach(_ process: SpawnedProcess? = nil, log: String? = nil) throws {
        let attached = try wait(60) {
            if let process, !process.isRunning { return true }
            return try hasFilter(veth.nameA) || hasFilter(veth.nameA, "egress")
        }
        let text = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
        try #require(attached && (process?.isRunning ?? true), "flowgen did not attach: \(process?.output() ?? "") \(text)")
    }

    /// Every JSON line of every file in `directory` (or of one file).
    func flows(in path: String) throws -> [[String: Any]] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
        var flows: [[String: Any]] = []
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("{") {
                flows.append(try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)"))
            }
        }
        return flows
    }

    /// A static neighbour entry for an address nobody answers: frames leave veth a and are dropped
    /// by b (not its MAC), so UDP to it causes no replies and no ICMP errors.
    func addBlackhole(_ address: String = "198.18.0.99") throws {
        try a.exec(["ip", "neigh", "replace", address, "lladdr", "02:00:00:00:00:99", "dev", veth.nameA]).check()
    }

    /// Removes pins and state of `name` directly (a failed test may leave them).
    static func forget(instance name: String) {
        for root in [InstancePaths.defaultPinRoot, InstancePaths.defaultStateRoot] {
            let dir = root + "/" + name
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] { unlink(dir + "/" + entry) }
            rmdir(dir)
        }
    }

    /// True when neither pins nor state of `name` exist.
    static func isGone(instance name: String) -> Bool {
        !FileManager.default.fileExists(atPath: InstancePaths.defaultPinRoot + "/" + name)
            && !FileManager.default.fileExists(atPath: InstancePaths.defaultStateRoot + "/" + name)
    }

    func close() {
        for process in spawned { process.terminate() }
        for name in InstanceStore.names() where name.hasSuffix("@" + a.name) || name.hasSuffix("@" + b.name) {
            Self.forget(instance: name)
        }
        hosts.close()
    }

    /// VmRSS of a process in kB, nil when it is gone.
    static func residentKB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
}

/// Sends `rounds` packets to each of `flows` UDP flows (`198.18.0.1:sport` to `dst`, dport from
/// `first` on), one round every `pause` seconds, and prints how many were sent.
let udpRoundRobinSender = """
import socket, sys, time
sport, dst, first, flows, rounds, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.1", sport))
sent = 0
start = time.time()
for r in range(rounds):
    for i in range(flows):
        s.sendto(b"r" * 40, (dst, first + i))
        sent += 1
    delay = start + (r + 1) * pause - time.time()
    if delay > 0: time.sleep(delay)
print(sent)
"""

/// Sends UDP datagrams from `198.18.0.1:sport` to `dst` (dport from `first` on, `flows` of them,
/// `perFlow` packets each, `burst` flows then `pause` seconds) and prints how many were sent.
let udpFlowSender = """
import socket, sys, time
sport, dst, first, flows, per_flow, burst, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.1", sport))
sent = 0
start = time.time()
for i in range(flows):
    for _ in range(per_flow):
        s.sendto(b"f" * 40, (dst, first + i))
        sent += 1
    if (i + 1) % burst == 0 and pause > 0:
        # on a schedule, so a slow moment is made up rather than stretching the run
        delay = start + (i + 1) // burst * pause - time.time()
        if delay > 0: time.sleep(delay)
print(sent)
"""
