import Foundation
import Testing
import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// tc attachment on veth pairs inside throwaway namespaces (never the host's interfaces).
@Suite("Kernel tc attachment")
struct KernelAttachTests {
    /// Prefix of every namespace these tests create, so a crashed run can be cleaned up.
    private static let prefix = "fgkattach"

    init() throws {
        if geteuid() == 0 { try NetworkNamespace.cleanupStale(prefix: Self.prefix) }
    }

    /// A namespace holding veth pair `a`/`b` (both up, 198.18.x addresses), destroyed by the caller.
    private static func namespaceWithVeth() throws -> (NetworkNamespace, a: String, b: String) {
        let namespace = try NetworkNamespace(prefix: prefix)
        let serial = UInt32.random(in: 0..<100_000)
        let (a, b) = ("fgk\(getpid() % 1000)a\(serial)", "fgk\(getpid() % 1000)b\(serial)")
        do {
            try namespace.exec(["ip", "link", "add", a, "type", "veth", "peer", "name", b]).check()
            try namespace.exec(["ip", "addr", "add", "198.18.200.1/30", "dev", a]).check()
            try namespace.exec(["ip", "addr", "add", "198.18.200.2/30", "dev", b]).check()
            try namespace.exec(["ip", "link", "set", a, "up"]).check()
            try namespace.exec(["ip", "link", "set", b, "up"]).check()
        } catch {
            try? namespace.destroy()
            throw error
        }
        return (namespace, a, b)
    }

    private static func tc(_ namespace: NetworkNamespace, _ arguments: [String]) throws -> String {
        try namespace.exec(["tc"] + arguments).check().stdout
    }

    @Test func attachesBothHooksAndLastDetachRemovesTheQdiscItCreated() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let (namespace, a, _) = try Self.namespaceWithVeth()
        defer { try? namespace.destroy() }
        let programID = try #require(pipeline.programs.first { $0.name == "fg_entry" }).id

        // Expectations are checked out here: the closure runs on a namespace thread outside the test's task.
        struct Observed {
            var interfaces: [String] = []
            var before: [AttachedFilter] = []
            var attached: [AttachedFilter] = []
            var duplicate: Error?
            var afterDuplicate: [AttachedFilter] = []
            var afterIngressDetach: [AttachedFilter] = []
            var ingressStillAttached = true
            var qdiscWhileEgressRemains = ""
        }
        let observed = try namespace.run { () throws -> Observed in
            var seen = Observed()
            seen.interfaces = TCAttachment.allInterfaces()
            seen.before = try TCAttachment.attachedPrograms(interface: a)
            let ingress = try TCAttachment(interface: a, direction: .ingress, programFD: pipeline.entryFD)
            let egress = try TCAttachment(interface: a, direction: .egress, programFD: pipeline.entryFD)
            seen.attached = try TCAttachment.attachedPrograms(interface: a)
            do {
                _ = try TCAttachment(interface: a, direction: .ingress, programFD: pipeline.entryFD)
            } catch {
                seen.duplicate = error
            }
            seen.afterDuplicate = try TCAttachment.attachedPrograms(interface: a)
            try ingress.detach()
            try ingress.detach()  // idempotent
            seen.ingressStillAttached = ingress.isAttached
            seen.afterIngressDetach = try TCAttachment.attachedPrograms(interface: a)
            seen.qdiscWhileEgressRemains = try Self.tc(namespace, ["qdisc", "show", "dev", a])
            try egress.detach()
            return seen
        }

        #expect(observed.interfaces.contains(a))
        #expect(observed.before.isEmpty)
        #expect(observed.attached.count == 2)
        for filter in observed.attached {
            #expect(filter.handle == TCAttachment.defaultHandle)
            #expect(filter.priority == TCAttachment.defaultPriority)
            #expect(filter.programID == programID)
            #expect(filter.kind == "bpf")
        }
        #expect(Set(observed.attached.map(\.direction)) == [.ingress, .egress])
        // A second filter at the same handle/priority is refused, not replaced.
        if case KernelError.filterExists(let interface, let direction, _, _)? = observed.duplicate {
            #expect(interface == a && direction == "ingress")
        } else {
            Issue.record("attaching twice at the same handle and priority gave \(String(describing: observed.duplicate))")
        }
        #expect(observed.afterDuplicate == observed.attached)
        #expect(!observed.ingressStillAttached)
        #expect(observed.afterIngressDetach.map(\.direction) == [.egress])
        #expect(observed.qdiscWhileEgressRemains.contains("clsact"), "egress still uses it")

        #expect(try Self.tc(namespace, ["filter", "show", "dev", a, "ingress"]).isEmpty)
        #expect(try Self.tc(namespace, ["filter", "show", "dev", a, "egress"]).isEmpty)
        #expect(!(try Self.tc(namespace, ["qdisc", "show", "dev", a]).contains("clsact")),
                "flowgen created the clsact qdisc, so the last detach must remove it")
    }

    @Test func preExistingQdiscAndForeignFiltersSurviveDetach() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let (namespace, a, b) = try Self.namespaceWithVeth()
        defer { try? namespace.destroy() }

        // a: someone else's clsact existed before flowgen.
        _ = try Self.tc(namespace, ["qdisc", "add", "dev", a, "clsact"])
        try namespace.run {
            let attachment = try TCAttachment(interface: a, direction: .ingress, programFD: pipeline.entryFD)
            try attachment.detach()
        }
        #expect(try Self.tc(namespace, ["filter", "show", "dev", a, "ingress"]).isEmpty)
        #expect(try Self.tc(namespace, ["qdisc", "show", "dev", a]).contains("clsact"), "a clsact flowgen did not create must stay")

        // b: flowgen creates the qdisc, then someone adds a filter of their own: the qdisc stays for them.
        let left = try namespace.run { () throws -> [AttachedFilter] in
            let attachment = try TCAttachment(interface: b, direction: .egress, programFD: pipeline.entryFD)
            // u32 without an action: this kernel has no matchall/basic classifiers nor the gact action.
            _ = try Self.tc(namespace, ["filter", "add", "dev", b, "egress", "pref", "100", "u32", "match", "u32", "0", "0"])
            try attachment.detach()
            return try TCAttachment.attachedPrograms(interface: b)
        }
        #expect(!left.isEmpty && left.allSatisfy { $0.kind == "u32" && $0.priority == 100 }, "\(left)")
        #expect(try Self.tc(namespace, ["qdisc", "show", "dev", b]).contains("clsact"))
    }

    @Test func detachFromAnotherThreadActsInTheAttachmentsNamespace() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let (namespace, a, _) = try Self.namespaceWithVeth()
        defer { try? namespace.destroy() }

        // Attach inside the namespace, detach from the test's own thread (root namespace).
        let attachment = try namespace.run {
            try TCAttachment(interface: a, direction: .ingress, programFD: pipeline.entryFD)
        }
        #expect(try Self.tc(namespace, ["filter", "show", "dev", a, "ingress"]).contains("fg_entry"))
        try attachment.detach()
        #expect(try Self.tc(namespace, ["filter", "show", "dev", a, "ingress"]).isEmpty)
        #expect(!(try Self.tc(namespace, ["qdisc", "show", "dev", a]).contains("clsact")))
    }

    @Test func attachedProgramSeesRealTraffic() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        let left = try NetworkNamespace(prefix: Self.prefix)
        defer { try? left.destroy() }
        let right = try NetworkNamespace(prefix: Self.prefix)
        defer { try? right.destroy() }
        let serial = UInt32.random(in: 0..<100_000)
        let (a, b) = ("fgk\(getpid() % 1000)l\(serial)", "fgk\(getpid() % 1000)r\(serial)")
        try left.exec(["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", right.name]).check()
        try left.exec(["ip", "addr", "add", "198.18.201.1/30", "dev", a]).check()
        try right.exec(["ip", "addr", "add", "198.18.201.2/30", "dev", b]).check()
        try left.exec(["ip", "link", "set", a, "up"]).check()
        try right.exec(["ip", "link", "set", b, "up"]).check()

        let attachment = try right.run {
            try TCAttachment(interface: b, direction: .ingress, programFD: pipeline.entryFD)
        }
        defer { try? attachment.detach() }
        let ping = try left.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.201.2"], timeout: .seconds(15))
        #expect(ping.succeeded, "\(ping.stdout)\(ping.stderr)")

        let icmpKey: [UInt8] = [198, 18, 201, 1, 198, 18, 201, 2, 0, 0, 0, 0, 1, 0, 0, 0]
        let value = try #require(try FlowTable(pipeline: pipeline, map: "fg_flows").lookup(icmpKey))
        #expect(KernelFixture.u64(value, at: 0) >= 3, "three echo requests reached b's ingress")
        #expect(KernelFixture.u64(value, at: 8) >= 3 * 84, "IP bytes of 84-byte echo requests")
        try attachment.detach()
        #expect(try right.exec(["tc", "filter", "show", "dev", b, "ingress"]).check().stdout.isEmpty)
    }

    @Test func unknownInterfaceIsAClearError() throws {
        try KernelFixture.requireRoot()
        let pipeline = try KernelFixture.loadCounterProgram()
        defer { pipeline.close() }
        do {
            _ = try TCAttachment(interface: "fgk-nope0", direction: .ingress, programFD: pipeline.entryFD)
            Issue.record("attaching to a missing interface succeeded")
        } catch let error as KernelError {
            #expect(error.description == "no interface named 'fgk-nope0': list them with `ip link`")
        }
    }
}
