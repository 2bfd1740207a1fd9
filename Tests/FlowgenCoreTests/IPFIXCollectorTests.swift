import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// External programs the interoperability tests run. A missing tool fails the test (scripts/setup.sh
/// installs nfdump and tshark), it never skips it.
enum Tool {
    /// The path of `name`, or a recorded failure that says how to install it.
    static func path(_ name: String, package: String) throws -> String {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        Issue.record("\(name) is not installed: run scripts/setup.sh (Debian package \(package))")
        throw IPFIXError.file(name, ENOENT)
    }

    /// Runs a command to completion; stdout and stderr go through files so neither can fill a pipe.
    static func run(_ argv: [String], environment: [String: String] = [:], timeout: Double = 30) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = try Background(argv, environment: environment)
        guard p.wait(timeout: timeout) else {
            p.stop()
            Issue.record("\(argv.joined(separator: " ")) did not finish within \(timeout) s")
            throw IPFIXError.socket("waiting for \(argv[0])", ETIMEDOUT)
        }
        return (p.status ?? -1, p.stdout, p.stderr)
    }

    /// A running program with its output in temporary files, stopped (SIGTERM, then SIGKILL) by `stop()`.
    /// Started with posix_spawn and an empty signal mask: test worker threads block SIGTERM, and a
    /// child would inherit that and ignore `stop()`.
    final class Background {
        let pid: pid_t
        let out = NSTemporaryDirectory() + "flowgen-tool-\(UUID().uuidString).out"
        let err = NSTemporaryDirectory() + "flowgen-tool-\(UUID().uuidString).err"
        private(set) var status: Int32?

        init(_ argv: [String], environment: [String: String] = [:]) throws {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attr, &empty)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for sig in [SIGTERM, SIGINT, SIGPIPE] { sigaddset(&defaults, sig) }
            posix_spawnattr_setsigdefault(&attr, &defaults)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
            var cArgs = argv.map { strdup($0) } + [nil]
            var cEnv = env.map { strdup($0) } + [nil]
            defer { for p in cArgs + cEnv { free(p) } }
            var child: pid_t = 0
            let rc = posix_spawn(&child, argv[0], &actions, &attr, &cArgs, &cEnv)
            guard rc == 0 else { throw IPFIXError.socket("posix_spawn(\(argv[0]))", rc) }
            pid = child
        }

        deinit {
            stop()
            unlink(out)
            unlink(err)
        }

        var stdout: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }

        /// Whether it still runs (reaps it once it exited).
        var isRunning: Bool {
            guard status == nil else { return false }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid {
                status = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
                return false
            }
            return true
        }

        /// Waits for the program to exit; false on timeout.
        func wait(timeout: Double) -> Bool { eventually(timeout) { !isRunning } }

        /// SIGTERM, then SIGKILL after 5 s; waits until it is gone.
        func stop() {
            guard isRunning else { return }
            kill(pid, SIGTERM)
            if !wait(timeout: 5) {
                kill(pid, SIGKILL)
                _ = wait(timeout: 5)
            }
        }
    }
}

/// nfcapd listening on a loopback port, writing to a temporary directory.
final class NfcapdCollector {
    let port: UInt16
    let directory = NSTemporaryDirectory() + "flowgen-nfcapd-\(UUID().uuidString)"
    let daemon: Tool.Background
    private(set) var log = ""

    /// Starts nfcapd on `host` (127.0.0.1 or ::1) and waits until it has bound its socket.
    init(host: String = "127.0.0.1") throws {
        let nfcapd = try Tool.path("nfcapd", package: "nfdump")
        port = try Loopback.freePort(type: Int32(SOCK_DGRAM.rawValue))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        daemon = try Tool.Background([nfcapd, host.contains(":") ? "-6" : "-4", "-b", host, "-p", String(port), "-w", directory, "-t", "3600"])
        guard eventually(10, { daemon.stderr.contains("Startup nfcapd") || !daemon.isRunning }), daemon.isRunning else {
            Issue.record("nfcapd did not start: \(daemon.stderr)")
            throw IPFIXError.socket("starting nfcapd", ECHILD)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// True when the UDP sockets bound to `port` have nothing queued (Linux /proc/net/udp and udp6:
    /// the local address ends in the port in hex, the fifth column is tx_queue:rx_queue in hex).
    static func receiveQueueEmpty(port: UInt16) -> Bool {
        let suffix = ":" + String(format: "%04X", port)
        var found = false
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                guard columns.count > 4, columns[1].hasSuffix(suffix) else { continue }
                found = true
                if columns[4].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) != 0 { return false }
            }
        }
        return found
    }

    /// Stops nfcapd (it writes its file) and returns its flow records as `nfdump -o raw` prints them.
    func stopAndRead() throws -> [[String: String]] {
        // UDP: the last datagrams are read (the socket's receive queue is empty) before the daemon goes
        if !eventually(5, { Self.receiveQueueEmpty(port: port) }) { Issue.record("nfcapd left datagrams unread on port \(port) for 5 s") }
        daemon.stop()
        log = daemon.stderr
        let nfdump = try Tool.path("nfdump", package: "nfdump")
        let r = try Tool.run([nfdump, "-R", directory, "-o", "raw", "-q"], environment: ["TZ": "UTC"])
        guard r.status == 0 else {
            Issue.record("nfdump failed: \(r.stderr)")
            throw IPFIXError.malformed("nfdump exit \(r.status)")
        }
        return Self.rawRecords(r.stdout)
    }

    /// Parses `nfdump -o raw`: blocks starting with "Flow Record:", lines "  key = value".
    static func rawRecords(_ text: String) -> [[String: String]] {
        var out: [[String: String]] = []
        for block in text.components(separatedBy: "Flow Record:").dropFirst() {
            var fields: [String: String] = [:]
            for line in block.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                fields[line[..<eq].trimmingCharacters(in: .whitespaces)] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            }
            out.append(fields)
        }
        return out
    }
}

/// The number at the start of an nfdump raw value ("6 TCP", "0x13 ...A..SF", "1795738577000 [2026-...]").
func leadingNumber(_ value: String?) -> UInt64? {
    guard let token = value?.split(separator: " ").first else { return nil }
    return token.hasPrefix("0x") ? UInt64(token.dropFirst(2), radix: 16) : UInt64(token)
}

/// Exported flows read back by real collectors: nfcapd/nfdump for UDP, tshark for files (its IPFIX
/// file reader, RFC 5655) and for a TCP stream captured by a listener written in the test.
@Suite(.serialized) struct IPFIXCollectorTests {
    /// Every biflow equals what nfdump reads back: addresses, ports, protocol, packets and bytes per
    /// direction (nfdump maps RFC 5103 reverse counters to its "out" counters), first/last in ms,
    /// the initiator's TCP flags (nfdump reads 29305/6 as tcpControlBits too; flowgen puts the
    /// reverse first so the forward value is the one nfdump keeps), end reason, biflow direction;
    /// and nfcapd sees no sequence errors across the MTU-sized messages.
    @Test func nfcapdReadsTheBiflowsSentOverUDP() throws {
        let fx = try IPFIXFixture(features: "tcp,icmp")
        let collector = try NfcapdCollector()
        var options = IPFIXExporter.Options()
        options.observationDomainID = 77
        options.maxMessageSize = 256 // several messages, so sequence numbers are checked across them
        let log = LogLines()
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .udp(host: "127.0.0.1", port: collector.port), options: options,
                                         epochOffsetNs: { fx.epochOffsetNs }, log: log.logger)
        let flows = sampleFlows(fx)
        try exporter.export(Array(flows.prefix(2)))
        try exporter.export(Array(flows.dropFirst(2)))
        // a batch big enough for many messages
        var many: [Biflow] = []
        for i in 0..<200 {
            var f = flows[0]
            f.id = UInt64(100 + i)
            f.forward.key.sport = UInt16(20000 + i)
            f.reverse?.key.dport = UInt16(20000 + i)
            many.append(f)
        }
        try exporter.export(many)
        try exporter.close()
        #expect(exporter.statistics.sendFailures == 0 && exporter.statistics.messagesSent > 20, "\(exporter.statistics)")
        #expect(log.text.contains("205 flows) sent"), "\(log.text)")
        let records = try collector.stopAndRead()
        #expect(collector.log.contains("Flows: 205,") && collector.log.contains("Sequence Errors: 0, Bad Packets: 0"), "\(collector.log)")
        #expect(collector.log.contains("Observation domain 77"), "\(collector.log)")
        #expect(records.count == 205)

        let json = OutputSchema(plan: fx.plan)
        for flow in flows {
            let key = flow.forward.key
            // nfdump shows ICMP type.code instead of ports (from icmpTypeCodeIPv4 / destinationTransportPort)
            let icmp = "\(key.dport >> 8).\(key.dport & 0xff)"
            let r = try #require(records.first { leadingNumber($0["proto"]) == UInt64(key.proto) && $0["src addr"] == key.src.description
                                                 && (key.isICMP ? $0["ICMP"]?.hasPrefix(icmp + " ") == true : $0["src port"] == String(key.sport)) },
                                 "flow \(flow.id) missing in \(records.filter { leadingNumber($0["proto"]) == UInt64(key.proto) })")
            let values = Dictionary(uniqueKeysWithValues: zip(json.columns.map(\.name), json.values(of: flow, epochOffsetNs: fx.epochOffsetNs)))
            func number(_ name: String) -> UInt64? { if case let .number(n)? = values[name] { return n }; return nil }
            #expect(r["dst addr"] == key.dst.description)
            if !key.isICMP { #expect(r["dst port"] == String(key.dport), "flow \(flow.id): \(r)") }
            #expect(leadingNumber(r["in packets"]) == number("IN_PKTS") && leadingNumber(r["in bytes"]) == number("IN_BYTES"), "flow \(flow.id): \(r)")
            // nfdump leaves the out counters out of one-way flows
            #expect(leadingNumber(r["out packets"]) ?? 0 == number("OUT_PKTS") && leadingNumber(r["out bytes"]) ?? 0 == number("OUT_BYTES"), "flow \(flow.id): \(r)")
            #expect(leadingNumber(r["first"]) == number("FLOW_START_MICROSECONDS")! / 1000, "flow \(flow.id): \(r)")
            #expect(leadingNumber(r["last"]) == number("FLOW_END_MICROSECONDS")! / 1000, "flow \(flow.id): \(r)")
            #expect(leadingNumber(r["end reason"]) == UInt64(flow.endReason.ipfixCode), "flow \(flow.id): \(r)")
            #expect(leadingNumber(r["biFlow Dir"]) == 1, "flow \(flow.id): \(r)")
            if key.proto == 6 {
                #expect(leadingNumber(r["tcp flags"]) == number("CLIENT_TCP_FLAGS"), "flow \(flow.id): \(r)")
            }
        }
    }

    /// Over IPv6 (nfcapd on ::1), with every module: large templates full of enterprise elements
    /// that nfdump skips, one record per message.
    @Test func nfcapdReadsBiflowsOfEveryModuleSentToAnIPv6Collector() throws {
        let fx = try IPFIXFixture(features: "all")
        let collector = try NfcapdCollector(host: "::1")
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .udp(host: "::1", port: collector.port), epochOffsetNs: { fx.epochOffsetNs })
        try exporter.export(sampleFlows(fx))
        try exporter.close()
        let records = try collector.stopAndRead()
        #expect(records.count == 5 && collector.log.contains("Sequence Errors: 0, Bad Packets: 0"), "\(collector.log)")
        let s = exporter.statistics
        #expect(s.templateMessagesSent > 1 && s.messagesSent == s.templateMessagesSent + 5,
                "templates split over several MTU-sized messages, then one message per 1000-octet record: \(s)")
        #expect(records.contains { $0["src addr"] == "::1" && leadingNumber($0["out bytes"]) == 3_000 }, "\(records)")
    }

    /// tshark reads the IPFIX file (RFC 5655) and decodes every message: no malformed packet, no
    /// expert warning, every template and data set decoded, reverse elements named as such.
    @Test func tsharkDecodesAnIPFIXFileWithoutWarnings() throws {
        let tshark = try Tool.path("tshark", package: "tshark")
        let fx = try IPFIXFixture(features: "all")
        let path = NSTemporaryDirectory() + "flowgen-\(UUID().uuidString).ipfix"
        defer { unlink(path) }
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .file(path: path), epochOffsetNs: { fx.epochOffsetNs })
        try exporter.export(sampleFlows(fx))
        try exporter.close()
        try Self.expectCleanDecode(tshark: tshark, file: path, messages: 2, dataRecords: 5)
    }

    /// A TCP session captured by a listener written in the test decodes with flowgen's decoder and
    /// with tshark (the stream's messages saved as an IPFIX file).
    @Test func tcpStreamDecodesWithTshark() throws {
        let tshark = try Tool.path("tshark", package: "tshark")
        let fx = try IPFIXFixture(features: "tcp,icmp")
        let (listener, port) = try Loopback.bound(type: Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        listen(listener, 4)
        let exporter = try IPFIXExporter(plan: fx.plan, destination: .tcp(host: "127.0.0.1", port: port), epochOffsetNs: { fx.epochOffsetNs })
        let conn = try #require(Loopback.accept(listener))
        defer { close(conn) }
        try exporter.export(sampleFlows(fx))
        try exporter.close()
        let bytes = Loopback.readToEnd(conn)
        var decoder = IPFIXMessageDecoder()
        let messages = try decoder.decodeStream(bytes)
        #expect(messages.flatMap(\.records).map { $0.unsigned(148) } == [1, 2, 3, 4, 5])
        let path = NSTemporaryDirectory() + "flowgen-\(UUID().uuidString).ipfix"
        defer { unlink(path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try Self.expectCleanDecode(tshark: tshark, file: path, messages: messages.count, dataRecords: 5)
    }

    /// Runs `tshark -r FILE -V` and checks that it decoded everything without complaint.
    static func expectCleanDecode(tshark: String, file: String, messages: Int, dataRecords: Int) throws {
        // tshark's IPFIX dissector takes templates of up to 60 fields unless told otherwise
        let r = try Tool.run([tshark, "-r", file, "-V", "-o", "cflow.max_template_fields:1000"])
        #expect(r.status == 0, "tshark: \(r.stderr)")
        let text = r.stdout
        let bad = text.split(separator: "\n").filter { line in
            ["Malformed", "Expert Info", "[Expert", "Warning", "Error", "xception", "no template"].contains { line.contains($0) }
        }
        #expect(bad.isEmpty, "tshark complained:\n\(bad.prefix(20).joined(separator: "\n"))")
        #expect(text.components(separatedBy: "Cisco NetFlow/IPFIX").count - 1 == messages, "\(text.prefix(3000))")
        let flows = text.split(separator: "\n").filter { line in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("Flow ") && Int(t.dropFirst(5)) != nil
        }
        #expect(flows.count == dataRecords, "tshark decoded \(flows.count) data records")
        #expect(text.contains("[Reverse]"), "reverse elements decode as RFC 5103 reverses")
        let expert = try Tool.run([tshark, "-r", file, "-q", "-z", "expert", "-o", "cflow.max_template_fields:1000"])
        #expect(!expert.stdout.contains("Warning") && !expert.stdout.contains("Error"), "\(expert.stdout)")
    }
}
