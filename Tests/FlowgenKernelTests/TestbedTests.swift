import Foundation
import Testing
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Namespace tests need root; without it they fail (never skip), as DESIGN.md requires of privileged tests.
private func requireRoot() throws {
    try #require(geteuid() == 0, "needs root")
}

/// The prefix of every namespace these tests create, so `cleanupStale` can recover from a crashed run.
private let prefix = "fgtestbed"

/// The inode of a namespace file: equal inodes mean the same namespace.
private func inode(_ path: String) -> UInt64? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return UInt64(info.st_ino)
}

@Suite("Testbed")
struct TestbedTests {
    init() throws {
        // Crash recovery: namespaces of dead test processes; live ones (parallel suites) are kept.
        if geteuid() == 0 {
            try NetworkNamespace.cleanupStale(prefix: prefix)
        }
    }

    @Test func pingCrossesVethOverIPv4AndIPv6() throws {
        try requireRoot()
        let left = try NetworkNamespace(prefix: prefix)
        defer { try? left.destroy() }
        let right = try NetworkNamespace(prefix: prefix)
        defer { try? right.destroy() }
        let pair = try VethPair.connect(left, right)
        defer { pair.destroy() }

        let v4 = try left.exec(["ping", "-c", "2", "-W", "1", "-i", "0.2", pair.b.ipv4Address!], timeout: .seconds(10))
        #expect(v4.succeeded, "\(v4.stdout)\(v4.stderr)")
        #expect(v4.stdout.contains("2 received"))
        let v6 = try right.exec(["ping", "-6", "-c", "2", "-W", "1", "-i", "0.2", pair.a.ipv6Address!], timeout: .seconds(10))
        #expect(v6.succeeded, "\(v6.stdout)\(v6.stderr)")
        #expect(v6.stdout.contains("2 received"))
    }

    @Test func httpServerAnswersCurlFromTheOtherNamespace() throws {
        try requireRoot()
        let client = try NetworkNamespace(prefix: prefix)
        defer { try? client.destroy() }
        let server = try NetworkNamespace(prefix: prefix)
        defer { try? server.destroy() }
        let pair = try VethPair.connect(client, server)
        defer { pair.destroy() }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowgen-testbed-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("flowgen testbed\n".utf8).write(to: root.appendingPathComponent("hello.txt"))

        for (address, url) in [(pair.b.ipv4Address!, "http://198.18.0.2:8080/hello.txt"),
                               (pair.b.ipv6Address!, "http://[fd00::2]:8080/hello.txt")] {
            let http = try server.spawn(["python3", "-m", "http.server", "--bind", address, "--directory", root.path, "8080"])
            defer { http.terminate() }
            try client.waitUntilListening(host: address, port: 8080)
            let fetched = try client.exec(["curl", "-sS", "-g", "--max-time", "5", url], timeout: .seconds(10))
            #expect(fetched.succeeded, "\(fetched.stderr)\n\(http.output())")
            #expect(fetched.stdout == "flowgen testbed\n")
            http.terminate()
            #expect(!http.isRunning)
        }
    }

    @Test func runExecutesInsideTheNamespaceOnAThrowawayThread() throws {
        try requireRoot()
        let first = try NetworkNamespace(prefix: prefix)
        defer { try? first.destroy() }
        let second = try NetworkNamespace(prefix: prefix)
        defer { try? second.destroy() }
        let pair = try VethPair.connect(first, second)
        defer { pair.destroy() }

        let inside = try first.run { if_nametoindex(pair.nameA) }
        #expect(inside != 0)
        #expect(if_nametoindex(pair.nameA) == 0, "the veth is invisible from the root namespace")
        #expect(try first.run { if_nametoindex(pair.nameB) } == 0, "the peer lives in the other namespace")
        #expect(try first.interfaceIndex(pair.nameA) == Int32(inside))
        #expect(try first.interfaceIndex("lo") == 1)
        #expect(throws: TestbedError.self) { try first.interfaceIndex("nonexistent0") }

        // The body's thread is in the namespace; the caller's thread never moves.
        let callerBefore = inode("/proc/thread-self/ns/net")
        let bodyNamespace = try first.run { inode("/proc/thread-self/ns/net") }
        #expect(bodyNamespace != nil && bodyNamespace == inode(first.path))
        #expect(inode("/proc/thread-self/ns/net") == callerBefore)
        #expect(callerBefore != bodyNamespace)

        struct Marker: Error {}
        #expect(throws: Marker.self) { try first.run { throw Marker() } }
    }

    @Test func destroyRemovesNamespacesAndWhatRunsInside() throws {
        try requireRoot()
        let first = try NetworkNamespace(prefix: prefix)
        defer { try? first.destroy() }
        let second = try NetworkNamespace(prefix: prefix)
        defer { try? second.destroy() }
        let pair = try VethPair.connect(first, second)
        defer { pair.destroy() }
        let sleeper = try first.spawn(["sleep", "30"])
        #expect(try NetworkNamespace.list().contains(first.name))
        #expect(try NetworkNamespace.list().contains(second.name))

        try first.destroy()
        try second.destroy()
        try first.destroy()
        #expect(!sleeper.isRunning, "destroy ends processes left in the namespace")
        let remaining = try NetworkNamespace.list()
        #expect(!remaining.contains(first.name))
        #expect(!remaining.contains(second.name))
        #expect(throws: TestbedError.self) { try first.exec(["true"]) }
        #expect(throws: TestbedError.self) { try first.run { 0 } }
    }

    @Test func execReportsStatusAndTimesOut() throws {
        try requireRoot()
        let namespace = try NetworkNamespace(prefix: prefix)
        defer { try? namespace.destroy() }

        let listing = try namespace.exec(["ip", "-o", "link", "show"]).check()
        #expect(listing.stdout.contains("lo:"))
        #expect(listing.stdout.split(separator: "\n").count == 1, "a fresh namespace has only loopback")
        let failing = try namespace.exec(["sh", "-c", "echo oops >&2; exit 3"])
        #expect(failing.status == 3)
        #expect(failing.stderr == "oops\n")
        #expect(throws: TestbedError.self) { try failing.check() }

        // the timeout, not the command's end, ends the call: only the timeout throws here
        #expect(throws: TestbedError.self) { try namespace.exec(["sleep", "5"], timeout: .milliseconds(300)) }
    }

    @Test func cleanupStaleRemovesOnlyNamespacesOfDeadProcesses() throws {
        try requireRoot()
        // A private prefix, so this test cannot race with the suite's own cleanup.
        let stalePrefix = "fgstale\(getpid())x\(NetworkNamespace.nextSerial())"
        // No process has a pid above 2^22 (the kernel's pid_max limit), so this one is surely dead.
        let dead = try NetworkNamespace(name: "\(stalePrefix)-99999999-1")
        defer { try? dead.destroy() }
        let live = try NetworkNamespace(prefix: stalePrefix)
        defer { try? live.destroy() }

        let removed = try NetworkNamespace.cleanupStale(prefix: stalePrefix)
        #expect(removed == [dead.name])
        let names = try NetworkNamespace.list()
        #expect(!names.contains(dead.name))
        #expect(names.contains(live.name))
        #expect(try NetworkNamespace.cleanupStale(prefix: stalePrefix, includingLive: true) == [live.name])
    }

    @Test func uniqueNamesDifferPerCall() {
        let names = (0..<100).map { _ in NetworkNamespace.unique(prefix: prefix) }
        #expect(Set(names).count == 100)
        #expect(names[0].hasPrefix("\(prefix)-\(getpid())-"))
    }

    @Test func addressesOutsideTheTestRangesAreRefused() throws {
        for bad in ["10.0.0.1/24", "198.20.0.1/24", "198.18.0.1/8", "2001:db8::1/64", "fe80::1/64", "fd00::1/7", "nonsense"] {
            #expect(throws: TestbedError.self, "\(bad)") { try VethPair.checkTestRange(bad) }
        }
        for good in ["198.18.0.1/24", "198.19.255.254/15", "198.18.7.7", "fd00::1/64", "fdff::2/128"] {
            #expect(throws: Never.self, "\(good)") { try VethPair.checkTestRange(good) }
        }
        // Refused before anything is created, so no root is needed to check it.
        #expect(throws: TestbedError.self) {
            try VethPair(.init(nil, ipv4: "192.168.1.1/24"), .init(nil, ipv4: "192.168.1.2/24"))
        }
    }
}
