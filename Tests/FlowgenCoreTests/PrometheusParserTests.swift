import Foundation
import Testing
@testable import FlowgenCore
import FlowgenTestSupport

/// The metrics page read by a real scraper's parser (Debian's python3-prometheus-client, the
/// reference client's text-format parser), not by string matching: every sample must land in a
/// family of the type the exposition format gives it.
@Suite struct PrometheusParserTests {
    /// Parses `text` with prometheus_client and returns, per family, its type and samples (name, labels, value).
    static func parse(_ text: String) throws -> [String: (type: String, samples: [(name: String, labels: [String: String], value: Double)])] {
        let python = "/usr/bin/python3"
        try #require(FileManager.default.isExecutableFile(atPath: python), "Debian's python3 is missing: run scripts/setup.sh")
        let page = NSTemporaryDirectory() + "fs-metrics-\(UUID().uuidString).txt"
        try text.write(toFile: page, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: page) }
        let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = {}
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            out[family.name] = {"type": family.type, "samples": [[s.name, s.labels, s.value] for s in family.samples]}
        print(json.dumps(out))
        """
        let run = try ProcessRunner.run([python, "-c", script, page])
        try #require(run.succeeded, "prometheus_client could not parse the page (install python3-prometheus-client: scripts/setup.sh): \(run.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [String: Any]])
        return json.mapValues { family in
            let samples = (family["samples"] as? [[Any]] ?? []).map { sample in
                (name: sample[0] as? String ?? "", labels: sample[1] as? [String: String] ?? [:], value: (sample[2] as? NSNumber)?.doubleValue ?? .nan)
            }
            return (type: family["type"] as? String ?? "", samples: samples)
        }
    }

    @Test func everyFamilyParsesWithTheTypeTheFormatGivesIt() throws {
        let metrics = CollectorMetrics()
        metrics.update {
            $0.flowsExported = 12
            $0.passes = 2
            $0.pollSecondsTotal = 0.5
            $0.kernelCounters = [.tableFull: 5, .truncated: 2]
        }
        let families = try Self.parse(metrics.prometheusText())
        // the pass durations are one summary: `_sum` and `_count` are its samples, not two counters
        let poll = try #require(families["flowgen_poll_duration_seconds"], "no summary family: \(families.keys.sorted())")
        #expect(poll.type == "summary")
        #expect(poll.samples.map(\.name).sorted() == ["flowgen_poll_duration_seconds_count", "flowgen_poll_duration_seconds_sum"])
        #expect(poll.samples.first { $0.name.hasSuffix("_sum") }?.value == 0.5)
        #expect(poll.samples.first { $0.name.hasSuffix("_count") }?.value == 2)
        #expect(families["flowgen_poll_duration_seconds_sum"] == nil && families["flowgen_poll_duration_seconds_count"] == nil)
        // the parser names a counter family without `_total` and keeps it on the sample
        let exported = try #require(families["flowgen_flows_exported"])
        #expect(exported.type == "counter" && exported.samples.map(\.name) == ["flowgen_flows_exported_total"] && exported.samples.first?.value == 12)
        let kernel = try #require(families["flowgen_kernel_counter"])
        #expect(kernel.type == "counter" && kernel.samples.count == KernelCounter.allCases.count)
        #expect(kernel.samples.first { $0.labels["counter"] == KernelCounter.tableFull.jsonName }?.value == 5)
        #expect(families["flowgen_up"]?.type == "gauge" && families["flowgen_build_info"]?.samples.first?.labels["version"] == FlowgenVersion.string)
        // nothing falls back to untyped (a sample outside any announced family)
        #expect(families.values.allSatisfy { $0.type != "unknown" && $0.type != "untyped" }, "\(families.filter { $0.value.type == "unknown" || $0.value.type == "untyped" }.keys.sorted())")
    }
}
