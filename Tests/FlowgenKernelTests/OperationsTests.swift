import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Pinned instances, restart without loss, the management commands, `-a` following interfaces,
/// `--config`, `--metrics`, early eviction and live malformed packets, with the real binary on
/// veth pairs in namespaces.
@Suite(.serialized) struct OperationsTests {
    @Test func pinnedRunSurvivesSIGKILLAndLosesNoPacket() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        try lab.addBlackhole()
        let out = lab.work + "/flows"
        let arguments = ["run", "-i", lab.veth.nameA, "--pin", "--interval", "0.3", "--output", out, "-v"]
        let first = try lab.spawnFlowgen(arguments + ["--log", lab.work + "/first.log"])
        try lab.waitForAttach(first, log: lab.work + "/first.log")
        let before = try #require(try InstanceStore.read(InstancePaths(name: lab.instance)))
        #expect(before.pinned && before.attachments.count == 2)
        var mode = stat()
        #expect(stat(InstancePaths.defaultPinRoot + "/" + lab.instance, &mode) == 0 && mode.st_mode & 0o777 == 0o700)

        // 20 flows, 6 s of traffic; the collector is killed in the middle and restarted 1 s later
        let sender = try lab.a.spawn(["python3", "-c", udpRoundRobinSender, "7000", "198.18.0.99", "9000", "20", "300", "0.02"])
        // killed in the middle: once the pinned table holds the traffic's flows (none ends while it runs)
        let counting = lab.wait(10) {
            let status = try? lab.flowgen(["status", "--instance", lab.instance, "--json"])
            let objects = status.flatMap { try? JSONSerialization.jsonObject(with: Data($0.stdout.utf8)) as? [[String: Any]] }
            return (objects?.first?["flows_in_table"] as? Int ?? 0) > 0
        }
        #expect(counting, "the table held no flow of the traffic within 10 s")
        kill(first.pid, SIGKILL)
        #expect(first.wait(timeout: .seconds(10)) != nil)
        // the subject: 1 s of traffic with no collector, counted by the pinned program alone
        Thread.sleep(forTimeInterval: 1)
        #expect(try lab.hasFilter(lab.veth.nameA, "egress"), "the filter must stay attached after SIGKILL")
        let status = try lab.flowgen(["status", "--instance", lab.instance, "--json"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])
        #expect(objects.first?["collector_running"] as? Bool == false)
        #expect((objects.first?["flows_in_table"] as? Int ?? 0) > 0, "\(status.stdout)")

        let second = try lab.spawnFlowgen(arguments + ["--log", lab.work + "/second.log"])
        let adopted = lab.wait(30) {
            ((try? String(contentsOfFile: lab.work + "/second.log", encoding: .utf8)) ?? "").contains("adopted pinned instance")
        }
        #expect(adopted, "\(second.output())")
        #expect(sender.wait(timeout: .seconds(30)) == 0)
        let sent = try #require(Int(sender.output().trimmingCharacters(in: .whitespacesAndNewlines)))
        // the sender's packets went through the hook before sendto returned; SIGINT exports what is left
        kill(second.pid, SIGINT)
        #expect(second.wait(timeout: .seconds(20)) == 0, "\(second.output())")

        let flows = try lab.flows(in: out).filter { $0["L4_SRC_PORT"] as? Int == 7000 }
        let exported = flows.reduce(0) { $0 + ($1["IN_PKTS"] as? Int ?? 0) }
        print("SIGKILL restart: \(sent) packets sent, \(exported) exported in \(flows.count) records")
        #expect(sent == 6000 && exported == sent, "packets sent \(sent), exported \(exported)")
        #expect(flows.count >= 20, "every flow, some in two records when a pass ended one")
        #expect(Set(flows.compactMap { $0["L4_DST_PORT"] as? Int }) == Set(9000..<9020))
        let ids = try lab.flows(in: out).compactMap { $0["FLOW_ID"] as? Int }
        #expect(Set(ids).count == ids.count, "FLOW_ID must stay unique across the restart")
        // the same programs counted throughout, and everything is gone after the clean stop
        let log = (try? String(contentsOfFile: lab.work + "/second.log", encoding: .utf8)) ?? ""
        #expect(!log.contains("loaded flowgen_entry"), "the restart must adopt, not reload: \(log)")
        #expect(OperationsLab.isGone(instance: lab.instance))
        #expect(try !lab.hasFilter(lab.veth.nameA) && !lab.hasFilter(lab.veth.nameA, "egress"))
        #expect(!(try lab.a.exec(["tc", "qdisc", "show", "dev", lab.veth.nameA]).stdout.contains("clsact")))
    }

    @Test func loadCollectStatusUnloadPurgeTouchOnlyWhatFlowgenAttached() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        try lab.addBlackhole()
        let loaded = try lab.flowgen(["load", "-i", lab.veth.nameA, "--features", "tcp,icmp"])
        #expect(loaded.succeeded, "\(loaded.stderr)")
        #expect(loaded.stderr.contains("pinned in"))
        let again = try lab.flowgen(["load", "-i", lab.veth.nameA, "--features", "tcp,icmp"])
        #expect(!again.succeeded && again.stderr.contains("already loaded"), "\(again.stderr)")

        // counting without any collector
        let sent = try lab.python(lab.a, udpFlowSender, ["7100", "198.18.0.99", "9100", "5", "4", "5", "0"])
        #expect(sent == "20")
        let status = try lab.flowgen(["status", "--json"])
        let all = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])
        let mine = try #require(all.first { $0["instance"] as? String == lab.instance }, "\(status.stdout)")
        #expect(mine["pinned"] as? Bool == true && mine["collector_running"] as? Bool == false)
        #expect(mine["features"] as? [String] == ["base", "icmp", "ipv4", "ipv6", "tcp"])
        #expect((mine["flows_in_table"] as? Int ?? 0) >= 5)
        let attachments = try #require(mine["attachments"] as? [[String: Any]])
        #expect(attachments.count == 2 && attachments.allSatisfy { $0["status"] as? String == "attached" })
        #expect(try lab.flowgen(["status"]).stdout.contains("attached: \(lab.veth.nameA) egress"))

        // collect while attached: active flows stay for the next collector
        let early = try lab.flowgen(["collect", "--instance", lab.instance, "--duration", "1", "--interval", "0.2", "-q"])
        #expect(early.succeeded, "\(early.stderr)")
        let earlyFlows = early.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!earlyFlows.contains { $0["L4_SRC_PORT"] as? Int == 7100 }, "active flows must stay in the table: \(early.stdout)")

        // someone else's filter on the same interface survives unload, and so does the qdisc it needs
        try lab.a.exec(["tc", "filter", "add", "dev", lab.veth.nameA, "ingress", "pref", "7", "bpf", "bytecode", "1,6 0 0 0"]).check()
        let unloaded = try lab.flowgen(["unload", "-i", lab.veth.nameA])
        #expect(unloaded.succeeded && unloaded.stdout.contains("detached instance \(lab.instance) from \(lab.veth.nameA) ingress"), "\(unloaded.stdout)\(unloaded.stderr)")
        #expect(try !lab.hasFilter(lab.veth.nameA) && !lab.hasFilter(lab.veth.nameA, "egress"))
        #expect(try lab.a.exec(["tc", "filter", "show", "dev", lab.veth.nameA, "ingress"]).stdout.contains("bytecode '1,6 0 0 0'"))
        #expect(try lab.a.exec(["tc", "qdisc", "show", "dev", lab.veth.nameA]).stdout.contains("clsact"))
        let nothing = try lab.flowgen(["unload", "-i", lab.veth.nameA])
        #expect(!nothing.succeeded && nothing.stderr.contains("nothing attached"), "\(nothing.stderr)")

        // nothing attached any more: collect exports every flow, with every packet (named: other
        // suites of the same run, e.g. KernelPassLossTests, may have an instance pinned meanwhile)
        let final = try lab.flowgen(["collect", "--instance", lab.instance, "--duration", "0.5", "--format", "json", "-q"])
        #expect(final.succeeded, "\(final.stderr)")
        let flows = try final.stdout.split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["L4_SRC_PORT"] as? Int == 7100 }
        #expect(flows.count == 5 && flows.allSatisfy { $0["IN_PKTS"] as? Int == 4 }, "\(final.stdout)")

        let purged = try lab.flowgen(["purge", "--instance", lab.instance])
        #expect(purged.succeeded && purged.stdout.contains("purged instance \(lab.instance)"), "\(purged.stderr)")
        #expect(OperationsLab.isGone(instance: lab.instance))
        let none = try lab.flowgen(["collect", "--instance", lab.instance])
        #expect(!none.succeeded && none.stderr.contains("no flowgen instance named"), "\(none.stderr)")
    }

    @Test func allInterfacesFollowsInterfacesThatComeAndGo() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        let log = lab.work + "/run.log"
        let monitor = try lab.spawnFlowgen(["run", "-a", "--interval", "0.3", "--log", log, "--output", lab.work + "/flows"])
        try lab.waitForAttach(monitor, log: log)
        // a pair created while flowgen runs, both ends inside the namespace
        let late = "fgl\(String(getpid(), radix: 36))", peer = late + "p"
        try lab.a.exec(["ip", "link", "add", late, "type", "veth", "peer", "name", peer]).check()
        defer { _ = try? lab.a.exec(["ip", "link", "del", late]) }
        try lab.a.exec(["ip", "link", "set", late, "up"]).check()
        try lab.a.exec(["ip", "link", "set", peer, "up"]).check()
        let seen = try lab.wait(10) { try lab.hasFilter(late) && lab.hasFilter(peer, "egress") }
        #expect(seen, "flowgen -a did not attach to \(late) created during the run: \(monitor.output())")
        let state = try #require(try InstanceStore.read(InstancePaths(name: "all@" + lab.a.name)))
        #expect(Set(state.attachments.map(\.interface)) == [lab.veth.nameA, late, peer])
        #expect(try !lab.hasFilter("lo"))

        try lab.a.exec(["ip", "link", "del", late]).check()
        let forgotten = lab.wait(10) {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return text.contains("\(late) is gone") && text.contains("\(peer) is gone")
        }
        #expect(forgotten, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(monitor.isRunning)
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        #expect(try !lab.hasFilter(lab.veth.nameA) && !lab.hasFilter(lab.veth.nameA, "egress"))
        #expect(OperationsLab.isGone(instance: "all@" + lab.a.name))
    }

    @Test func configFileSuppliesEveryOptionAndTheCommandLineWins() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        let config = lab.work + "/flowgen.conf"
        try """
        # flowgen settings, named like the long options
        interface = \(lab.veth.nameA)
        direction = egress
        format = csv
        output = "\(lab.work)/flows"
        interval = 0.2
        duration = 60
        idle_timeout = 1
        features = icmp
        quiet = true
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let monitor = try lab.spawnFlowgen(["run", "--config", config, "--duration", "3"])
        try lab.waitForAttach(monitor)
        #expect(try !lab.hasFilter(lab.veth.nameA, "ingress"), "direction = egress from the file")
        try lab.a.exec(["ping", "-c", "2", "-i", "0.2", "198.18.0.2"]).check()
        // --duration 3 on the command line wins over the file's 60: the run ends by itself well before 60 s
        #expect(monitor.wait(timeout: .seconds(30)) == 0, "--duration 3 must win over the file's 60: \(monitor.output())")
        let files = try FileManager.default.contentsOfDirectory(atPath: lab.work + "/flows")
        #expect(files.count == 1 && files[0].hasSuffix(".csv"), "\(files)")
        let csv = try String(contentsOfFile: lab.work + "/flows/" + files[0], encoding: .utf8)
        #expect(csv.contains("ICMP_TYPE"), "features = icmp")

        // the command line also wins for repeatable options and flags of the same group
        let bad = lab.work + "/bad.conf"
        try "interface = nosuchif9\nverbos = true\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let unknown = try lab.flowgen(["run", "--config", bad])
        #expect(!unknown.succeeded && unknown.stderr.contains("\(bad):2: unknown setting 'verbos'"), "\(unknown.stderr)")
        try "interface = nosuchif9\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let overridden = try lab.flowgen(["run", "--config", bad, "-i", lab.veth.nameA, "--duration", "0.5", "-q", "--format", "none",
                                          "--ipfix", "file://" + lab.work + "/x.ipfix"])
        #expect(overridden.succeeded, "-i on the command line replaces the file's interface: \(overridden.stderr)")
        // the shipped example parses, and the command line replaces its `all = true`, output, log and metrics address
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("contrib/flowgen.conf").path
        let shipped = try lab.flowgen(["run", "--config", example, "-i", lab.veth.nameA, "--duration", "0.5", "--output", lab.work + "/ex",
                                       "--log", lab.work + "/ex.log", "--metrics", "127.0.0.1:0"])
        #expect(shipped.succeeded, "\(shipped.stderr)")
        let exampleLog = (try? String(contentsOfFile: lab.work + "/ex.log", encoding: .utf8)) ?? ""
        #expect(exampleLog.contains("monitoring \(lab.veth.nameA) (both)"), "\(exampleLog)")
        let missing = try lab.flowgen(["run", "--config", lab.work + "/nope.conf"])
        #expect(!missing.succeeded && missing.stderr.contains("does not exist"), "\(missing.stderr)")
    }

    @Test func metricsEndpointServesPrometheusText() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        try lab.addBlackhole()
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--interval", "0.2", "--idle-timeout", "1",
                                            "--metrics", "127.0.0.1:9464", "--format", "none",
                                            "--ipfix", "file://" + lab.work + "/flows.ipfix", "-q"])
        try lab.waitForAttach(monitor)
        _ = try lab.python(lab.a, udpFlowSender, ["7200", "198.18.0.99", "9200", "3", "2", "3", "0"])
        try lab.a.exec(["python3", "-c", "import socket,struct; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((\"\(lab.veth.nameA)\", 0)); s.send(b'\\xff'*12 + b'\\x08\\x00' + b'\\x42' + b'\\x00'*30)"]).check()
        var text = ""
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let exported = try lab.wait(10) {
            text = try lab.a.exec(["curl", "-s", "http://127.0.0.1:9464/metrics"]).stdout
            return (value("flowgen_flows_exported_total") ?? 0) >= 3
        }
        #expect(exported, "\(text)")
        #expect((value("flowgen_poll_duration_seconds_count") ?? 0) >= 1 && value("flowgen_flows_active") != nil)
        for name in ["flowgen_table_full_drops_total 0", "flowgen_parse_errors_total 1",
                     "flowgen_tail_call_failures_total 0", "flowgen_stage_flow_missing_total 0", "flowgen_poll_duration_seconds_count", "flowgen_export_errors_total 0",
                     "flowgen_table_capacity 131072", "flowgen_kernel_counter_total{counter=\"bad_ipv4_header\"} 1",
                     "# TYPE flowgen_flows_exported_total counter", "flowgen_interfaces_attached 1"] {
            #expect(text.contains(name), "missing \(name) in:\n\(text)")
        }
        let notFound = try lab.a.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9464/nope"]).stdout
        #expect(notFound == "404")
        // only where asked: not on the veth's address
        let elsewhere = try lab.a.exec(["curl", "-s", "-m", "2", "http://198.18.0.1:9464/metrics"])
        #expect(!elsewhere.succeeded)
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        let taken = try lab.flowgen(["run", "-i", lab.veth.nameA, "--metrics", "999.1.1.1:80"])
        #expect(!taken.succeeded && taken.stderr.contains("--metrics"), "\(taken.stderr)")
    }

    @Test func fullTableEvictsTheIdlestFlowsEarlyAndKeepsTracking() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        try lab.addBlackhole()
        let log = lab.work + "/run.log"
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--direction", "egress", "--max-flows", "64",
                                            "--interval", "0.1", "--idle-timeout", "60", "--output", lab.work + "/out",
                                            "--log", log, "--pin"])
        try lab.waitForAttach(monitor, log: log)
        // 150 flows of 2 packets, 5 new flows every 0.2 s: far more than 64 directions, never more than fit between passes
        let sent = try lab.python(lab.a, udpFlowSender, ["7300", "198.18.0.99", "9300", "150", "2", "5", "0.2"])
        #expect(sent == "300")
        let status = try lab.flowgen(["status", "--instance", lab.instance])
        #expect(status.stdout.contains("of 64 directions"), "\(status.stdout)")
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        let flows = try lab.flows(in: lab.work + "/out").filter { $0["L4_SRC_PORT"] as? Int == 7300 }
        let evicted = flows.filter { $0["FLOW_END_REASON"] as? String == "lack of resources" }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        print("eviction: \(flows.count) flows exported, \(evicted.count) early for lack of resources")
        #expect(flows.count == 150 && flows.allSatisfy { $0["IN_PKTS"] as? Int == 2 }, "\(flows.count) flows; \(text)")
        #expect(evicted.count >= 80, "\(evicted.count) evicted")
        #expect(!text.contains("table_full"), "no new flow may be lost: \(text)")
        #expect(text.contains("idlest flows early"))
    }

    @Test func malformedFramesOnALiveInterfaceAreCountedNeverKeyed() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        let out = lab.work + "/flows"
        let log = lab.work + "/run.log"
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--pin", "--interval", "0.2", "--output", out, "--log", log])
        try lab.waitForAttach(monitor, log: log)
        // from b's end: frames for a MAC that is not a's, so a's stack drops them after tc ingress has seen them
        let sent = try lab.python(lab.b, malformedFrames, [lab.veth.nameB, "3"])
        #expect(sent == "sent")
        var counters: [String: Any] = [:]
        _ = try lab.wait(5) {
            let status = try lab.flowgen(["status", "--instance", lab.instance, "--json"])
            let objects = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]
            counters = objects?.first?["kernel_counters"] as? [String: Any] ?? [:]
            return counters["ipv6_ext_chain_too_long"] as? Int == 3
        }
        let expected = ["truncated": 6, "bad_ipv4_header": 6, "bad_tcp_header": 3, "vlan_too_deep": 3,
                        "ipv6_ext_chain_too_long": 3, "fragments": 3]
        for (name, count) in expected {
            #expect(counters[name] as? Int == count, "\(name): \(String(describing: counters[name]))")
        }
        #expect((counters["not_ip"] as? Int ?? 0) >= 3)
        kill(monitor.pid, SIGINT)
        #expect(monitor.wait(timeout: .seconds(20)) == 0, "\(monitor.output())")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("bad_ipv4_header=6") && text.contains("truncated=6") && text.contains("vlan_too_deep=3"), "\(text)")
        // only the valid datagram and the port-less fragment became flows; nothing else from b's addresses
        let flows = try lab.flows(in: out).filter {
            $0["IPV4_SRC_ADDR"] as? String == "198.18.0.2" || $0["IPV6_SRC_ADDR"] as? String == "fd00::2"
        }
        let keys = Set(flows.map { "\($0["PROTOCOL"] ?? "?") \($0["L4_SRC_PORT"] ?? "-")>\($0["L4_DST_PORT"] ?? "-")" })
        #expect(keys == ["17 4000>4001", "17 0>0"], "bogus flows: \(keys)")
        #expect(flows.allSatisfy { $0["IN_PKTS"] as? Int == 3 })
    }
}

extension OperationsTests {
    @Test func adoptionRefusesOtherFeaturesAndAChangedRecordLayout() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        let modules = lab.work + "/modules"
        try FileManager.default.createDirectory(atPath: modules + "/mark", withIntermediateDirectories: true)
        chmod(modules, 0o755)
        func module(_ type: String) throws {
            try """
            name: mark
            summary: counts packets again
            fields:
              - name: mark_packets
                type: \(type)
                aggregation: sum
                value: 1
                unit: packets
                json: { forward: MARK_IN, reverse: MARK_OUT }
            """.write(toFile: modules + "/mark/feature.yaml", atomically: true, encoding: .utf8)
        }
        try module("u32")
        let loaded = try lab.flowgen(["load", "-i", lab.veth.nameA, "--feature-path", modules, "--features", "mark"])
        #expect(loaded.succeeded, "\(loaded.stderr)")
        let before = try #require(try InstanceStore.read(InstancePaths(name: lab.instance)))

        let other = try lab.flowgen(["run", "--pin", "-i", lab.veth.nameA, "--features", "tcp"])
        #expect(!other.succeeded && other.stderr.contains("counts with features base,ipv4,ipv6,mark but this run asks for base,ipv4,ipv6,tcp"),
                "\(other.stderr)")
        // the module changed on disk since the load: the pinned records no longer decode with it
        try module("u64")
        let changed = try lab.flowgen(["collect", "--instance", lab.instance, "--duration", "0.5"])
        #expect(!changed.succeeded && changed.stderr.contains("does not match the decoder")
                && changed.stderr.contains("mark_packets"), "\(changed.stderr)")
        // neither refusal touched the instance
        #expect(try InstanceStore.read(InstancePaths(name: lab.instance))?.attachments == before.attachments)
        #expect(try lab.hasFilter(lab.veth.nameA) && lab.hasFilter(lab.veth.nameA, "egress"))
        try module("u32")
        let fine = try lab.flowgen(["collect", "--instance", lab.instance, "--duration", "0.3", "-q"])
        #expect(fine.succeeded, "\(fine.stderr)")
        #expect(try lab.flowgen(["purge", "--instance", lab.instance]).succeeded)
        #expect(OperationsLab.isGone(instance: lab.instance))
    }

    // Tests name their instance: other suites pin instances of their own in parallel, and a
    // command without --instance refuses when it finds more than one.
    @Test func stagedPipelineKeepsTailCallingAfterTheLoaderExits() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        // payload alone verifies ~307k instructions, with the entry program ~316k: this budget splits it in two
        let loaded = try lab.flowgen(["load", "-i", lab.veth.nameA, "--features", "tcp,payload", "--stage-budget", "311000"],
                                     timeout: .seconds(180))
        #expect(loaded.succeeded, "\(loaded.stderr)")
        let state = try #require(try InstanceStore.read(InstancePaths(name: lab.instance)))
        // the stages, then the collector's kernel pass program (which runs on no packet)
        #expect(state.programs.map(\.name) == ["flowgen_entry", "flowgen_stage_1", "fg_pass_run"] && state.programs[1].features == ["payload"])
        #expect(state.stagePrograms.map(\.name) == ["flowgen_entry", "flowgen_stage_1"])
        #expect(state.maps.contains { $0.name == "fg_stages" && $0.pin != nil }, "the tail-call array must be pinned")
        // the loader is gone: only the pins keep the tail-call array filled
        let sent = try lab.python(lab.a, udpRoundRobinSender, ["7500", "198.18.0.2", "9500", "1", "5", "0"])
        #expect(sent == "5")
        let status = try lab.flowgen(["status", "--instance", lab.instance, "--json"])
        let counters = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])?.first?["kernel_counters"] as? [String: Any]
        #expect(counters?["tail_call_failed"] as? Int == 0 && counters?["stage_flow_missing"] as? Int == 0, "\(status.stdout)")
        #expect(try lab.flowgen(["unload", "-a", "--instance", lab.instance]).succeeded)
        let collected = try lab.flowgen(["collect", "--instance", lab.instance, "--duration", "0.3", "-q"])
        #expect(collected.succeeded, "\(collected.stderr)")
        let flow = try #require(collected.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.first { $0["L4_SRC_PORT"] as? Int == 7500 })
        #expect(flow["IN_PKTS"] as? Int == 5 && flow["PAYLOAD_PKTS_IN"] as? Int == 5, "\(flow)")
        #expect(try lab.flowgen(["purge", "--instance", lab.instance]).succeeded)
    }

    @Test func badConfigurationSaysWhatToDoAndLeavesNothingAttachedOrPinned() throws {
        let lab = try OperationsLab()
        defer { lab.close() }
        let modules = lab.work + "/modules"
        try FileManager.default.createDirectory(atPath: modules + "/broken", withIntermediateDirectories: true)
        chmod(lab.work, 0o755)
        chmod(modules, 0o755)
        try "name: broken\nfields:\n  - name: x\n    type: u128\n".write(toFile: modules + "/broken/feature.yaml", atomically: true, encoding: .utf8)
        let config = lab.work + "/bad.conf"
        try "interface \(lab.veth.nameA)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let iface = lab.veth.nameA
        let cases: [([String], String)] = [
            (["run", "--pin", "-i", "nosuchif0"], "no interface named 'nosuchif0'"),
            (["run", "--pin", "-i", iface, "--duration", "abc"], "--duration"),
            (["run", "--pin", "-i", iface, "--duration=-3"], "--duration must be a positive number"),
            (["run", "--pin", "-i", iface, "--features", "tcp,bogus"], "unknown feature 'bogus'"),
            (["run", "--pin", "-i", iface, "--feature-path", modules, "--features", "broken"], "broken/feature.yaml"),
            (["run", "--pin", "-i", iface, "--output", "/proc/flowgen-out"], "choose another with --output DIR"),
            (["run", "--pin", "-i", iface, "--metrics", "localhost"], "--metrics 'localhost'"),
            (["run", "--pin", "-i", iface, "--high-water", "5"], "--high-water"),
            (["run", "--pin", "--config", config], "\(config):1: expected 'key = value'"),
            (["load", "-i", iface, "--instance", "../etc"], "invalid instance name"),
            (["load", "-i", "nosuchif0"], "no interface named 'nosuchif0'"),
            (["collect", "--instance", "nosuch"], "no flowgen instance named 'nosuch'"),
            (["unload", "-i", "nosuchif0"], "nothing attached to nosuchif0"),
            (["unload"], "-i IFACE"),
            (["status", "--instance", "nosuch"], "no flowgen instance named 'nosuch'"),
            (["purge", "--instance", "nosuch"], "no flowgen instance named 'nosuch'"),
            (["replay", lab.work + "/nosuch.pcap"], "cannot read capture file '\(lab.work)/nosuch.pcap': No such file or directory"),
            (["replay", lab.work], "'\(lab.work)' is a directory, not a capture file"),
        ]
        for (arguments, expected) in cases {
            let r = try lab.flowgen(arguments)
            let firstLine = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(r.status != 0, "\(arguments) succeeded")
            #expect(firstLine.hasPrefix("flowgen: error: ") && firstLine.contains(expected), "\(arguments): \(r.stderr)")
            #expect(OperationsLab.isGone(instance: lab.instance), "\(arguments) left pins or state behind")
            #expect(try !lab.hasFilter(iface) && !lab.hasFilter(iface, "egress"), "\(arguments) left a filter")
            #expect(!(try lab.a.exec(["tc", "qdisc", "show", "dev", iface]).stdout.contains("clsact")), "\(arguments) left a qdisc")
        }

        // a failure after the first hook was attached and the maps pinned takes both back
        try lab.a.exec(["tc", "qdisc", "add", "dev", iface, "clsact"]).check()
        try lab.a.exec(["tc", "filter", "add", "dev", iface, "egress", "pref", "61710", "handle", "0xf10e", "bpf", "bytecode", "1,6 0 0 0"]).check()
        let blocked = try lab.flowgen(["run", "--pin", "-i", iface])
        #expect(blocked.status != 0 && blocked.stderr.contains("\(iface) egress already has a filter at flowgen's handle and priority"), "\(blocked.stderr)")
        #expect(OperationsLab.isGone(instance: lab.instance))
        #expect(try !lab.hasFilter(iface, "ingress"))
        #expect(try lab.a.exec(["tc", "filter", "show", "dev", iface, "egress"]).stdout.contains("bytecode '1,6 0 0 0'"))

        // no root: one line that says to use sudo, for every command that touches the kernel
        let copy = try UnprivilegedCopy()
        defer { copy.remove() }
        for command in [["load", "-i", "lo"], ["collect"], ["unload", "-a"], ["status"], ["purge"], ["run", "--pin", "-i", "lo"]] {
            let r = try ProcessRunner.run(copy.asNobody(command))
            #expect(r.status != 0 && r.stderr.contains("needs root") && r.stderr.contains("sudo"), "\(command): \(r.stderr)")
        }
    }
}

/// Injects malformed frames (and one valid datagram) out of an interface with an AF_PACKET socket:
/// argv interface, repetitions. Source 198.18.0.2 / fd00::2, destination .1 / ::1, MAC 02:00:00:00:00:01.
let malformedFrames = """
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
def eth(proto, payload, tags=0):
    head = bytes.fromhex("020000000001") + bytes.fromhex("020000000002")
    for _ in range(tags): head += struct.pack("!HH", 0x8100, 7)
    return head + struct.pack("!H", proto) + payload
SRC, DST = socket.inet_aton("198.18.0.2"), socket.inet_aton("198.18.0.1")
def ipv4(proto, l4, ihl=5, tot=None, frag=0):
    tot = tot if tot is not None else 20 + len(l4)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 1, frag, 64, proto, 0, SRC, DST) + l4
def udp(sport, dport): return struct.pack("!HHHH", sport, dport, 16, 0) + b"x" * 8
def tcp(sport, dport, doff=5): return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, 2, 1024, 0, 0)
S6, D6 = socket.inet_pton(socket.AF_INET6, "fd00::2"), socket.inet_pton(socket.AF_INET6, "fd00::1")
def ipv6(nh, payload): return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, S6, D6) + payload
chain = b"".join(struct.pack("!BB6s", 60 if i < 8 else 17, 0, b"\\1\\4" + b"\\0" * 4) for i in range(9))
frames = [
    eth(0x0800, ipv4(17, udp(4000, 4001))),                 # valid: the one flow
    eth(0x88b5, b"\\0" * 46),                                # not IP
    eth(0x0800, ipv4(17, udp(4002, 4003))[:10]),            # IPv4 header cut short
    eth(0x0800, ipv4(6, tcp(4004, 4005))[:30]),             # TCP header cut short
    eth(0x0800, ipv4(17, udp(16390, 56426), ihl=2)),        # IHL 2: the reference keyed this
    eth(0x0800, ipv4(17, udp(4006, 4007), tot=12)),         # total length below the header
    eth(0x0800, ipv4(6, tcp(4008, 4009, doff=2))),          # TCP data offset 2
    eth(0x0800, ipv4(17, udp(4010, 4011)), tags=6),         # 6 VLAN tags (ingress strips one)
    eth(0x86dd, ipv6(60, chain + udp(4012, 4013))),          # 9 destination-options headers
    eth(0x0800, ipv4(17, b"y" * 16, frag=100)),             # a later fragment: tracked without ports
]
for _ in range(int(sys.argv[2])):
    for frame in frames: s.send(frame)
print("sent")
"""
