import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

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
        // how long a cached build takes is measured by `flowgen bench --only build`
        let warm = try ProcessRunner.run(args)
        #expect(warm.succeeded && warm.stdout.contains("cached"), "\(warm.stdout)\(warm.stderr)")
        #expect((try? String(contentsOfFile: cache + "/calls", encoding: .utf8)) == callsAfterCold, "clang ran on a cached build")
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
        try "name: bad\nfields:\n  - name: first_byte\n    type: u64\n    aggregation: max\n    export: false\nupdate: update.bpf.c\n"
            .write(toFile: root + "/bad/feature.yaml", atomically: true, encoding: .utf8)
        // reads packet data past the bytes FG_PTR checked: the verifier must refuse it
        try "__u8 *p = FG_PTR(skb, pkt->l4_off, 1);\nif (p)\n\tFG_SET(first_byte, p[64]);\n"
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
        let hosts = try NamespacePair(prefix: "fgall")
        defer { hosts.close() }
        let (a, veth) = (hosts.a, hosts.veth)
        let monitor = try a.spawn([flowgen, "run", "-a", "--duration", "3", "--interval", "0", "-q"])
        defer { monitor.terminate() }
        let seen = try waitUntil(5) { try a.exec(["tc", "filter", "show", "dev", veth.nameA, "ingress"]).stdout.contains("bpf") }
        #expect(seen, "flowgen -a did not attach to \(veth.nameA)")
        #expect(try a.exec(["tc", "filter", "show", "dev", "lo", "ingress"]).stdout.isEmpty)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        #expect(try a.exec(["tc", "filter", "show", "dev", veth.nameA, "egress"]).stdout.isEmpty)
    }

    /// The first line of stderr, which carries the error.
    private func firstLine(_ r: ProcessResult) -> String {
        r.stderr.split(separator: "\n").first.map(String.init) ?? ""
    }

    @Test func negativeNumbersReachTheRangeCheckOfEveryNumericOption() throws {
        // a negative value used to be taken for an option ("Missing value for '--interval <sec>'")
        let flowgen = try flowgenBinary()
        let cases: [([String], String)] = [
            (["run", "-i", "lo", "--interval", "-1"], "--interval must be a number of seconds from 0 to 86400, got -1"),
            (["run", "-i", "lo", "--duration", "-5"], "--duration must be a positive number of seconds, got -5"),
            (["run", "-i", "lo", "--high-water", "-1"], "--high-water must be a percentage from 10 to 100, got -1"),
            (["collect", "--interval", "-1"], "--interval must be a number of seconds from 0 to 86400, got -1"),
            (["collect", "--duration", "-0.5"], "--duration must be a positive number of seconds, got -0.5"),
            (["build", "--max-flows", "-1"], "--max-flows must be between 16 and 64000000, got -1"),
            (["build", "--max-stages", "-2"], "--max-stages must be from 1 to 32, got -2"),
            (["build", "--stage-budget", "-100"], "--stage-budget must be at least 100 instructions, got -100"),
            (["replay", "x.pcap", "--idle-timeout", "-1"], "--idle-timeout must be a number of seconds greater than 0 and at most 31536000, got -1"),
            (["replay", "x.pcap", "--active-timeout", "-3"], "--active-timeout must be a number of seconds greater than 0 and at most 31536000, got -3"),
            (["replay", "x.pcap", "--ipfix-template-refresh", "-1"], "--ipfix-template-refresh must be a number of seconds greater than 0 and at most 86400, got -1"),
            (["replay", "x.pcap", "--ipfix-domain", "-1"], "--ipfix-domain must be from 0 to 4294967295, got -1"),
            (["replay", "--engine", "kernel", "x.pcap", "--threads", "-1"], "--threads must be from 1 to 256, got -1"),
        ]
        for (arguments, expected) in cases {
            let r = try ProcessRunner.run([flowgen] + arguments)
            #expect(r.status != 0, "\(arguments) succeeded")
            #expect(firstLine(r) == "flowgen: error: " + expected, "\(arguments): \(r.stderr)")
        }
    }

    @Test func featureListsAreTrimmedEmptyNamesRefusedAndTyposAnswered() throws {
        let flowgen = try flowgenBinary()
        for list in ["tcp,,icmp", "tcp,", ",tcp", "tcp, -"] {
            let r = try ProcessRunner.run([flowgen, "features", "--ipfix", "--features", list])
            #expect(r.status != 0, "'\(list)' was accepted")
            #expect(firstLine(r).hasPrefix("flowgen: error: --features '\(list)': name ") && firstLine(r).contains("is empty"), "\(list): \(r.stderr)")
        }
        // spaces around names are not part of them: the same selection as without
        let spaced = try ProcessRunner.run([flowgen, "features", "--ipfix", "--features", " tcp , icmp "])
        let plain = try ProcessRunner.run([flowgen, "features", "--ipfix", "--features", "tcp,icmp"])
        #expect(spaced.succeeded && plain.succeeded && spaced.stdout == plain.stdout && plain.stdout.contains("icmpTypeCodeIPv4"), "\(spaced.stderr)")
        for (typo, meant) in [("tpc", "tcp"), ("icpm", "icmp"), ("-ipb6", "ipv6"), ("tcp_retrains", "tcp_retrans")] {
            let r = try ProcessRunner.run([flowgen, "build", "--features", "tcp," + typo, "--emit", "c"])
            let name = typo.hasPrefix("-") ? String(typo.dropFirst()) : typo
            #expect(r.status != 0)
            #expect(r.stderr == "flowgen: error: unknown feature '\(name)'; did you mean '\(meant)'? (`flowgen features` lists them)\n", "\(typo): \(r.stderr)")
        }
        // nothing close: the list of every module, as before
        let far = try ProcessRunner.run([flowgen, "build", "--features", "zzzzzz", "--emit", "c"])
        #expect(far.status != 0 && firstLine(far).hasPrefix("flowgen: error: unknown feature 'zzzzzz'; available: base, dns,"), "\(far.stderr)")
    }

    @Test func everyErrorHasOneFormAndNoProgressLineComesBeforeAnInputFileError() throws {
        let flowgen = try flowgenBinary()
        let files = try ScratchFiles()
        let text = try files.raw("notes.txt", Array("hello, not a capture\n".utf8))
        for arguments in [["run"], ["replay", files.path("nosuch.pcap")], ["build", "--features", "nosuch"], ["status", "--instance", "../x"],
                          ["replay", "--bogus"]] {
            let r = try ProcessRunner.run([flowgen] + arguments)
            #expect(r.status != 0)
            #expect(firstLine(r).hasPrefix("flowgen: error: ") && !r.stderr.contains("Error: "), "\(arguments): \(r.stderr)")
        }
        // not -q: still nothing but the error (it used to follow "built ..." and "replayed 0 packets ...")
        let bad = try ProcessRunner.run([flowgen, "replay", text])
        #expect(bad.status == 1)
        #expect(bad.stderr == "flowgen: error: \(text): not a pcap or pcapng file (magic 0x68656C6C at byte 0)\n", "\(bad.stderr)")
        // beside a good file: the error first, then the progress of the good file's replay
        let frame = Packet.ethernet().ipv4().udp(sport: 9, dport: 10, payload: [1, 2, 3]).bytes()
        let good = try files.pcap("good.pcap", [(T0, frame)])
        let mixed = try ProcessRunner.run([flowgen, "replay", good, text, "--format", "csv"])
        #expect(mixed.status == 1)
        let lines = mixed.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first == "flowgen: error: \(text): not a pcap or pcapng file (magic 0x68656C6C at byte 0)", "\(mixed.stderr)")
        #expect(lines.filter { $0.contains("error") }.count == 1 && lines.contains { $0.contains("replayed 1 packets from 2 file(s)") }, "\(mixed.stderr)")
        #expect(mixed.stdout.split(separator: "\n").count == 2, "header and the good file's flow: \(mixed.stdout)")
    }

    @Test func helpOffersWhatEachCommandUsesAndSaysWhatItDoes() throws {
        let flowgen = try flowgenBinary()
        // wrapped to the terminal's width: compared with the lines joined
        func help(_ command: String) throws -> String {
            try ProcessRunner.run([flowgen, command, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let replay = try help("replay")
        #expect(replay.contains("--threads <n>") && replay.contains("With --engine kernel: threads"), "\(replay)")
        let features = try help("features")
        for option in ["--max-flows", "--max-stages", "--stage-budget"] {
            #expect(!features.contains(option), "features --help offers \(option)")
            for command in ["build", "run", "load", "replay"] { #expect(try help(command).contains(option), "\(command) lost \(option)") }
        }
        #expect(features.contains("--features <list>"))
        let run = try help("run")
        #expect(run.contains("the interfaces joined by '+'"))
        for command in ["status", "collect", "unload", "purge"] {
            let text = try help(command)
            #expect(text.contains("--instance <name>") && !text.contains("joined by '+'"), "\(command): \(text)")
        }
        #expect(try help("status").contains("default: every instance"))
        #expect(try help("collect").contains("default: the only one loaded"))
    }
}
