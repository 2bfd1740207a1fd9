import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// The `flowgen` binary as users run it: build outputs, privileges, verifier errors, `-a`.
@Suite(.serialized) struct CommandLineTests {
    @Test func objectFileLoadsWithAnotherLibbpfLoader() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let dir = NSTemporaryDirectory() + "fgobj-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let built = try ProcessRunner.run([flowgen, "build", "--features", "tcp,icmp", "-o", dir + "/mon.o"])
        #expect(built.succeeded, "\(built.stderr)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/mon.manifest.json"))) as? [String: Any])
        #expect(manifest["entry"] as? String == "flowgen_entry")
        let stages = try #require(manifest["stages"] as? [[String: Any]])
        #expect((stages.first?["verified_insns"] as? Int ?? 0) > 0)
        // bpftool (libbpf) loads and pins it as is; in a private mount namespace (bpftool mounts a bpffs
        // there when the host has none) and removed afterwards when the host's bpffs took the pins
        let pin = "/sys/fs/bpf/flowgen-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: pin) }
        let loaded = try ProcessRunner.run(["unshare", "--mount", "--propagation", "private",
                                            "bpftool", "prog", "loadall", dir + "/mon.o", pin, "type", "tc"])
        #expect(loaded.succeeded, "\(loaded.stderr)")
    }

    @Test func emitPlanIsJSONWithVerifiedStages() throws {
        try requireRoot()
        let r = try ProcessRunner.run([try flowgenBinary(), "build", "--features", "tcp,icmp", "--emit", "plan"])
        #expect(r.succeeded, "\(r.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(plan["entry"] as? String == "flowgen_entry")
        let stage = try #require((plan["stages"] as? [[String: Any]])?.first)
        #expect(stage["program"] as? String == "flowgen_entry")
        #expect((stage["features"] as? [String])?.contains("tcp") == true)
        #expect((stage["verified_insns"] as? Int ?? 0) > 100)
        let c = try ProcessRunner.run([try flowgenBinary(), "build", "--features", "tcp", "--emit", "c"])
        #expect(c.stdout.contains("SEC(\"tc\")") && c.stdout.contains("struct fg_record {"))
    }

    @Test func cachedBuildDoesNotRunClang() throws {
        try requireRoot()
        let cache = NSTemporaryDirectory() + "fgcache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        // a clang wrapper that logs every call proves the second build never runs it
        let real = try ClangCompiler().clangPath()
        let wrapper = cache + "/clang-wrapper"
        try "#!/bin/sh\necho called >> \(cache)/calls\nexec \(real) \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let args = [try flowgenBinary(), "build", "--features", "icmp", "--cache-dir", cache + "/objects", "--clang", wrapper]
        let cold = try ProcessRunner.run(args)
        #expect(cold.stdout.contains("compiled"), "\(cold.stdout)\(cold.stderr)")
        let callsAfterCold = (try? String(contentsOfFile: cache + "/calls", encoding: .utf8)) ?? ""
        #expect(!callsAfterCold.isEmpty)
        let started = Date()
        let warm = try ProcessRunner.run(args)
        let elapsed = Date().timeIntervalSince(started)
        #expect(warm.succeeded && warm.stdout.contains("cached"), "\(warm.stdout)\(warm.stderr)")
        #expect((try? String(contentsOfFile: cache + "/calls", encoding: .utf8)) == callsAfterCold, "clang ran on a cached build")
        #expect(elapsed < 1.0, "a cached build took \(elapsed) s")
    }

    @Test func aCachedBuildReusesThisKernelsVerdictAndOnlyThisKernels() throws {
        try requireRoot()
        let cache = NSTemporaryDirectory() + "fgverified-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let args = [try flowgenBinary(), "build", "--features", "tcp", "--cache-dir", cache]
        let first = try ProcessRunner.run(args)
        #expect(first.succeeded && !first.stdout.contains("remembered"), "\(first.stdout)\(first.stderr)")
        let second = try ProcessRunner.run(args)
        #expect(second.stdout.contains("(verdict remembered for this kernel)"), "\(second.stdout)")
        func insns(_ s: String) -> String? {
            s.split(separator: ",").first { $0.contains("insns verified") }.map { $0.replacingOccurrences(of: " (verdict remembered for this kernel)", with: "") }
        }
        #expect(insns(first.stdout) != nil && insns(first.stdout) == insns(second.stdout), "\(first.stdout) / \(second.stdout)")

        // a record written by another kernel build is not trusted: the object is verified again
        let plans = cache + "/stage-plans"
        for name in try FileManager.default.contentsOfDirectory(atPath: plans) {
            let path = plans + "/" + name
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let kernel = try #require(text.range(of: #""kernel":"[^"]*""#, options: .regularExpression))
            try text.replacingCharacters(in: kernel, with: #""kernel":"another kernel""#).write(toFile: path, atomically: true, encoding: .utf8)
        }
        let third = try ProcessRunner.run(args)
        #expect(third.succeeded && !third.stdout.contains("remembered"), "\(third.stdout)")
        #expect(try ProcessRunner.run(args).stdout.contains("remembered")) // and remembered again
    }

    @Test func withoutRootRunSaysWhatToDo() throws {
        let copy = try UnprivilegedCopy()
        defer { copy.remove() }
        let r = try ProcessRunner.run(copy.asNobody(["run", "-i", "lo"]))
        #expect(r.status != 0)
        #expect(r.stderr.contains("needs root") && r.stderr.contains("sudo"), "\(r.stderr)")
    }

    @Test func aConfigValueWithANulIsRefusedBeforeAnythingRuns() throws {
        // `interface = eth0<NUL>` used to start a run that monitored nothing and exited 0
        let dir = NSTemporaryDirectory() + "fgnul-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/flowgen.conf"
        try Data("# monitor eth0\ninterface = eth0\u{0}\nduration = 1\n".utf8).write(to: URL(fileURLWithPath: config))
        let r = try ProcessRunner.run([try flowgenBinary(), "run", "--config", config])
        #expect(r.status != 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("\(config):2: the value of 'interface' contains the control character U+0000"), "\(r.stderr)")
        #expect(!r.stderr.contains("monitoring"), "\(r.stderr)")
    }

    @Test func aConfigFileOthersCanWriteIsRefused() throws {
        let dir = NSTemporaryDirectory() + "fgconf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/flowgen.conf"
        // a writable config could turn on --allow-unsafe-feature-path and name a feature path of its writer's
        try "interface = lo\nallow-unsafe-feature-path = true\n".write(toFile: config, atomically: false, encoding: .utf8)
        chmod(config, 0o666)
        let r = try ProcessRunner.run([try flowgenBinary(), "run", "--config", config])
        #expect(r.status != 0)
        #expect(r.stderr.contains("refusing --config '\(config)'") && r.stderr.contains("writable by others"), "\(r.stderr)")
        #expect(!r.stderr.contains("monitoring"), "\(r.stderr)")
    }

    @Test func interfaceNamesNoInterfaceCanHaveAreRefusedByEveryCommand() throws {
        let flowgen = try flowgenBinary()
        for command in ["run", "load", "unload"] {
            for (name, shown) in [("eth0\u{1B}[2J", "eth0<U+001B>[2J"), ("a:b", "a:b"), ("sixteen-bytes-xx", "sixteen-bytes-xx")] {
                let r = try ProcessRunner.run([flowgen, command, "-i", name])
                #expect(r.status != 0, "\(command) -i \(shown)")
                #expect(r.stderr.contains("invalid interface name '\(shown)'") && r.stderr.contains("1 to 15 bytes"), "\(command): \(r.stderr)")
                #expect(!r.stderr.contains("\u{1B}"), "the terminal must not see the ESC")
            }
        }
    }

    @Test func verifierRejectionQuotesTheLog() throws {
        try requireRoot()
        let root = NSTemporaryDirectory() + "fgbad-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/bad", withIntermediateDirectories: true)
        try "name: bad\nfields:\n  - name: first_byte\n    type: u64\n    aggregation: max\nupdate: update.bpf.c\n"
            .write(toFile: root + "/bad/feature.yaml", atomically: true, encoding: .utf8)
        // reads packet data without a bounds check: the verifier must refuse it
        try "__u8 *p = (void *)(long)skb->data + pkt->l4_off;\nFG_SET(first_byte, *p);\n"
            .write(toFile: root + "/bad/update.bpf.c", atomically: true, encoding: .utf8)
        let r = try ProcessRunner.run([try flowgenBinary(), "build", "--feature-path", root, "--features", "bad"])
        #expect(!r.stderr.contains("measuring features"), "an unsafe program is not a reason to split")
        #expect(r.status != 0)
        #expect(r.stderr.contains("flowgen_entry") && r.stderr.lowercased().contains("verifier"), "\(r.stderr)")
        #expect(r.stderr.contains("invalid access to packet") || r.stderr.contains("outside of the packet"), "\(r.stderr)")
    }

    @Test func allInterfacesAttachesToEveryOneButLo() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let a = try NetworkNamespace(prefix: "fgall")
        defer { try? a.destroy() }
        let b = try NetworkNamespace(prefix: "fgall")
        defer { try? b.destroy() }
        let veth = try VethPair.connect(a, b)
        let monitor = try a.spawn([flowgen, "run", "-a", "--duration", "3", "--interval", "0", "-q"])
        defer { monitor.terminate() }
        var seen = false
        for _ in 0..<100 where !seen {
            seen = try a.exec(["tc", "filter", "show", "dev", veth.nameA, "ingress"]).stdout.contains("bpf")
            if !seen { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(seen, "flowgen -a did not attach to \(veth.nameA)")
        #expect(try a.exec(["tc", "filter", "show", "dev", "lo", "ingress"]).stdout.isEmpty)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        #expect(try a.exec(["tc", "filter", "show", "dev", veth.nameA, "egress"]).stdout.isEmpty)
    }
}
