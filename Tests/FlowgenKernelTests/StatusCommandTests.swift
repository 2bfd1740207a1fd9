import Foundation
import Testing
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// `flowgen status` run from outside the instance's namespace and under `ip netns exec`.
@Suite(.serialized) struct StatusCommandTests {
    @Test func statusNamesTheNamespaceAndSaysWhenTheBPFFilesystemIsHidden() throws {
        let lab = try OperationsLab(prefix: "hcli")
        defer { lab.close() }
        let loaded = try lab.flowgen(["load", "-i", lab.veth.nameA])
        try #require(loaded.succeeded, "\(loaded.stderr)")
        defer { _ = try? lab.flowgen(["purge", "--instance", lab.instance]) }

        // from the initial namespace: the namespace by its ip netns name, not an inode
        let outside = try ProcessRunner.run([lab.flowgen, "status", "--instance", lab.instance])
        #expect(outside.succeeded, "\(outside.stderr)")
        #expect(outside.stdout.contains("in network namespace '\(lab.a.name)'"), "\(outside.stdout)")
        #expect(outside.stdout.contains("problem: attached in network namespace '\(lab.a.name)': check its filters with `nsenter --net=/var/run/netns/\(lab.a.name) flowgen status`"),
                "\(outside.stdout)")
        #expect(!outside.stdout.contains("inode"), "\(outside.stdout)")
        let json = try ProcessRunner.run([lab.flowgen, "status", "--instance", lab.instance, "--json"])
        let object = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])?.first)
        #expect(object["network_namespace"] as? String == lab.a.name)
        #expect(object["flows_in_table"] is Int, "the maps are readable from here: \(json.stdout)")

        // ip netns exec remounts /sys without the BPF filesystem: said, not "map is gone"
        let hidden = try ProcessRunner.run(["ip", "netns", "exec", lab.a.name, lab.flowgen, "status", "--instance", lab.instance])
        #expect(hidden.succeeded, "\(hidden.stderr)")
        #expect(hidden.stdout.contains("problem: the BPF filesystem is not mounted here (ip netns exec hides it), so the pinned maps cannot be read: use nsenter --net=/var/run/netns/\(lab.a.name) flowgen status"),
                "\(hidden.stdout)")
        #expect(!hidden.stdout.contains("gone"), "\(hidden.stdout)")
        // the filters are checked there all the same, and through nsenter everything is read
        #expect(hidden.stdout.contains("attached: \(lab.veth.nameA) ingress") && hidden.stdout.contains(": attached"), "\(hidden.stdout)")
        let entered = try lab.flowgen(["status", "--instance", lab.instance])
        #expect(entered.succeeded && entered.stdout.contains("flows in table:") && !entered.stdout.contains("problem:"), "\(entered.stdout)")
    }
}
