import Foundation
import Testing
@testable import FlowgenCore

/// The pure parts of operations: `--config` files, early eviction, FLOW_ID resumption and the
/// Prometheus page.
@Suite struct OperationsCoreTests {
    let options: [ConfigFile.Option] = [
        .init(long: "interface", short: "i", isFlag: false), .init(long: "all", short: "a", isFlag: true),
        .init(long: "interval", isFlag: false), .init(long: "idle-timeout", isFlag: false),
        .init(long: "quiet", short: "q", isFlag: true), .init(long: "verbose", short: "v", isFlag: true),
        .init(long: "features", isFlag: false), .init(long: "config", isFlag: false),
    ]

    @Test func configLinesBecomeArgumentsBeforeTheCommandLine() throws {
        let file = try ConfigFile(text: """
            # comment
            interface = eth0
            interface = eth1

            idle_timeout = 30
            features = "tcp,icmp"
            verbose = yes
            quiet = false
            """, path: "f.conf")
        #expect(file.entries.count == 6)
        let arguments = try file.arguments(options: options, commandLine: ["--interval", "2"])
        #expect(arguments == ["--interface=eth0", "--interface=eth1", "--idle-timeout=30", "--features=tcp,icmp", "--verbose",
                              "--interval", "2"])
    }

    @Test func theCommandLineWinsForOptionsAndTheirGroups() throws {
        let file = try ConfigFile(text: "interface = eth0\ninterval = 5\nverbose = true\nfeatures = tcp\n", path: "f.conf")
        let groups = [["interface", "all"], ["quiet", "verbose"]]
        #expect(try file.arguments(options: options, commandLine: ["-a", "-q"], exclusiveGroups: groups)
                == ["--interval=5", "--features=tcp", "-a", "-q"])
        #expect(try file.arguments(options: options, commandLine: ["-ieth9", "--interval=1"], exclusiveGroups: groups)
                == ["--verbose", "--features=tcp", "-ieth9", "--interval=1"])
        #expect(try file.arguments(options: options, commandLine: ["-qi", "eth9"], exclusiveGroups: groups)
                == ["--interval=5", "--features=tcp", "-qi", "eth9"])
    }

    @Test func badLinesNameTheFileAndLine() throws {
        #expect(throws: ConfigError.syntax(path: "f.conf", line: 2, text: "interface eth0")) {
            try ConfigFile(text: "# x\ninterface eth0\n", path: "f.conf")
        }
        let unknown = try ConfigFile(text: "intervall = 3\n", path: "f.conf")
        do {
            _ = try unknown.arguments(options: options, commandLine: [])
            Issue.record("an unknown setting must be refused")
        } catch {
            #expect("\(error)".hasPrefix("f.conf:1: unknown setting 'intervall'; settings are the long option names: all, features,"))
        }
        #expect(throws: ConfigError.badFlag(path: "f.conf", line: 1, key: "all", value: "maybe")) {
            try ConfigFile(text: "all = maybe\n", path: "f.conf").arguments(options: options, commandLine: [])
        }
        #expect(throws: ConfigError.nested(path: "f.conf", line: 1)) {
            try ConfigFile(text: "config = other.conf\n", path: "f.conf").arguments(options: options, commandLine: [])
        }
        #expect(throws: ConfigError.missingValue(path: "f.conf", line: 1, key: "interval")) {
            try ConfigFile(text: "interval =\n", path: "f.conf").arguments(options: options, commandLine: [])
        }
    }

    @Test func controlCharactersInAKeyOrValueAreRefusedWithTheFileAndLine() throws {
        // the rule: no scalar below U+0020 (tab included) and no U+007F in a key or a value
        let cases: [(text: String, key: String?, character: Unicode.Scalar)] = [
            ("# first\ninterface = eth0\u{0}\n", "interface", "\u{0}"),   // the NUL that used to monitor nothing
            ("# first\ninterface = eth\r0\n", "interface", "\r"),          // a CR that does not end the line
            ("# first\ninter\u{1B}face = eth0\n", nil, "\u{1B}"),           // ESC in the key
            ("# first\nfeatures = tcp\u{7F}\n", "features", "\u{7F}"),     // DEL
            ("# first\nfeatures = \"tcp\ticmp\"\n", "features", "\t"),     // a tab inside a (quoted) value
            ("# first\ninterface = \"\u{0}\"\n", "interface", "\u{0}"),   // quotes do not hide it
            ("# first\ni\u{0}nterface = eth0\n", nil, "\u{0}"),             // NUL in the key
        ]
        for (text, key, character) in cases {
            #expect(throws: ConfigError.controlCharacter(path: "/etc/f.conf", line: 2, key: key, character: character), "\(text.debugDescription)") {
                try ConfigFile(text: text, path: "/etc/f.conf")
            }
            do {
                _ = try ConfigFile(text: text, path: "/etc/f.conf")
            } catch {
                let message = "\(error)"
                let label = "U+" + String(format: "%04X", character.value)
                #expect(message.hasPrefix("/etc/f.conf:2: ") && message.contains(label), "\(message)")
                #expect(message.contains(key.map { "value of '\($0)'" } ?? "the key"), "\(message)")
                #expect(ControlCharacters.first(in: message) == nil, "the message must not carry the character itself: \(message.debugDescription)")
            }
        }
        // a line without '=' is still a syntax error, quoted without its control character
        do {
            _ = try ConfigFile(text: "eth0\u{1B}[2J\n", path: "f.conf")
            Issue.record("a line without '=' must be refused")
        } catch {
            #expect("\(error)".contains("found 'eth0<U+001B>[2J'"), "\(error)")
        }
    }

    @Test func ordinaryValuesAndLineEndingsStillParse() throws {
        // LF and CRLF end lines; tabs and spaces around the key and '=' are layout, not content
        let file = try ConfigFile(text: "interface\t=\teth0\r\n\tidle_timeout = 30 \r\nfeatures = 'tcp,icmp'\n"
                                  + "# a comment may say anything \u{1B}\ninterface = wlan-é.2\n", path: "f.conf")
        #expect(file.entries == [
            .init(key: "interface", value: "eth0", line: 1), .init(key: "idle-timeout", value: "30", line: 2),
            .init(key: "features", value: "tcp,icmp", line: 3), .init(key: "interface", value: "wlan-é.2", line: 5),
        ])
    }

    @Test func controlCharactersAreTheUnicodeCcCategory() {
        for value in Array(0x00...0x1F) + [0x7F] + Array(0x80...0x9F) {
            #expect(ControlCharacters.isControl(Unicode.Scalar(UInt32(value))!), "U+\(String(value, radix: 16))")
        }
        for value in [0x20, 0x7E, 0xA0, 0xE9, 0x2028, 0xFEFF] {
            #expect(!ControlCharacters.isControl(Unicode.Scalar(UInt32(value))!), "U+\(String(value, radix: 16))")
        }
        #expect(ControlCharacters.label("\u{0}") == "U+0000" && ControlCharacters.label("\u{9B}") == "U+009B")
        #expect(ControlCharacters.visible("a\u{0}b\nc") == "a<U+0000>b<U+000A>c")
        #expect(ControlCharacters.problem(in: "/var/log/x", what: "--log") == nil)
        #expect(ControlCharacters.problem(in: "x\ty", what: "--log")?.hasPrefix("--log 'x<U+0009>y' contains the control character U+0009") == true)
    }

    @Test func evictionExportsTheIdlestFlowsDownToTheLowWaterMark() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp")
        let table = MemoryFlowTable(plan: plan)
        let out = CapturingExporter()
        let collector = FlowCollector(plan: plan, source: table, exporter: out,
                                      policy: ExpiryPolicy(idleTimeoutNs: 1000 * second, activeTimeoutNs: 10_000 * second))
        // 10 one-way flows, last seen at 1..10 s; one biflow (2 directions) last seen at 0.5 s
        for i in 1...10 {
            table.put(tcpKey("198.18.0.1", UInt16(40000 + i), "198.18.0.2", 80),
                      ["packets": 1, "first_seen": UInt64(i) * second, "last_seen": UInt64(i) * second])
        }
        table.put(tcpKey("198.18.0.3", 5000, "198.18.0.4", 22), ["packets": 2, "first_seen": second / 4, "last_seen": second / 2])
        table.put(tcpKey("198.18.0.4", 22, "198.18.0.3", 5000), ["packets": 2, "first_seen": second / 3, "last_seen": second / 2])
        // 12 directions; above 10 the idlest go until at most 8 remain
        let result = try collector.poll(now: 20 * second, highWater: 10, lowWater: 8)
        #expect(result.evicted == 3 && result.poll.exported == 3 && result.poll.active == 8)
        #expect(out.flows.allSatisfy { $0.endReason == .lackOfResources })
        #expect(out.flows[0].forward.key.sport == 5000 && out.flows[0].reverse != nil, "the idlest (a biflow) first")
        #expect(Set(out.flows.dropFirst().map(\.forward.key.sport)) == [40001, 40002])
        #expect(table.entries.count == 8)
        // below the high-water mark nothing is evicted
        let calm = try collector.poll(now: 21 * second, highWater: 10, lowWater: 8)
        #expect(calm.evicted == 0 && calm.poll.exported == 0)
    }

    @Test func insertReserveLowersTheMarksByTwiceTheLargestArrivalBetweenPasses() {
        var reserve = InsertReserve()
        // a 64-direction table at 90%/80%: 57 and 51 until a pass has seen new directions arrive
        #expect(reserve.marks(high: 57, low: 51, capacity: 64) == (57, 51))
        reserve.note(entries: 40, left: 40)
        #expect(reserve.peak == 0)
        // 5 arrived (45 found, 40 left before): 10 kept free, so at most 54 remain; low keeps its gap of 6
        reserve.note(entries: 45, left: 45)
        #expect(reserve.peak == 5 && reserve.reserve == 10)
        #expect(reserve.marks(high: 57, low: 51, capacity: 64) == (54, 48))
        // a pass that found 55 (10 beyond the 45 left) and evicted down to 48, then one with nothing new: the peak is 10
        reserve.note(entries: 55, left: 48)
        reserve.note(entries: 48, left: 48)
        #expect(reserve.peak == 10 && reserve.marks(high: 57, low: 51, capacity: 64) == (44, 38))
        // a table roomy enough keeps its marks; eviction off stays off
        #expect(reserve.marks(high: 900, low: 800, capacity: 1000) == (900, 800))
        #expect(reserve.marks(high: .max, low: 51, capacity: 64) == (.max, 51))
        // more arriving between passes than the table holds: evict down to nothing rather than below
        #expect(reserve.marks(high: 9, low: 8, capacity: 10) == (0, 0))
        // a burst is forgotten after `window` passes without one
        for _ in 0..<InsertReserve.window { reserve.note(entries: 48, left: 48) }
        #expect(reserve.peak == 0 && reserve.marks(high: 57, low: 51, capacity: 64) == (57, 51))
    }

    @Test func numberingResumesAfterAnEarlierCollector() throws {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp")
        let table = MemoryFlowTable(plan: plan)
        let out = CapturingExporter()
        let collector = FlowCollector(plan: plan, source: table, exporter: out)
        collector.resumeNumbering(after: 41)
        collector.resumeNumbering(after: 7) // never backwards
        table.put(tcpKey("198.18.0.1", 1, "198.18.0.2", 2), ["packets": 1, "first_seen": 1, "last_seen": 1])
        try collector.flushAll(reason: .forced)
        #expect(out.flows.first?.id == 42)
    }

    @Test func prometheusPageHasHelpTypeAndEveryCounter() {
        let metrics = CollectorMetrics()
        metrics.update {
            $0.flowsExported = 12
            $0.flowsActive = 3
            $0.kernelCounters = [.tableFull: 5, .truncated: 2, .badTCPHeader: 1, .tailCallFailed: 4, .stageFlowMissing: 6]
            $0.passes = 2
            $0.pollSecondsTotal = 0.5
        }
        let text = metrics.prometheusText()
        #expect(text.contains("# TYPE flowgen_flows_exported_total counter\nflowgen_flows_exported_total 12\n"))
        #expect(text.contains("flowgen_flows_active 3\n"))
        #expect(text.contains("flowgen_table_full_drops_total 5\n"))
        #expect(text.contains("flowgen_parse_errors_total 3\n"))
        #expect(text.contains("flowgen_tail_call_failures_total 4\n"))
        #expect(text.contains("flowgen_stage_flow_missing_total 6\n"))
        #expect(text.contains("flowgen_poll_duration_seconds_sum 0.500000\n") && text.contains("flowgen_poll_duration_seconds_count 2\n"))
        for counter in KernelCounter.allCases {
            #expect(text.contains("flowgen_kernel_counter_total{counter=\"\(counter.jsonName)\"}"))
        }
        // that every sample belongs to a family of the right type is checked by a real parser (PrometheusParserTests)
    }
}
