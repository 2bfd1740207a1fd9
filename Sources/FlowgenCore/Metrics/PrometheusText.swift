import Foundation

/// Renders collector metrics in the Prometheus text exposition format (version 0.0.4): one
/// `# HELP` and `# TYPE` line per metric family, then its samples.
public enum PrometheusText {
    /// Parse failures: packets whose headers could not be read into a flow key.
    public static let parseErrorCounters: [KernelCounter] = [
        .truncated, .badIPv4Header, .badTCPHeader, .vlanTooDeep, .ipv6ExtensionChainTooLong,
    ]

    /// The exposition text of `s`.
    public static func render(_ s: CollectorMetrics.Snapshot) -> String {
        var out = ""
        // `labels` follows the family name as written: `{name="value"}`, or a summary's `_sum`/`_count`
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { out += name + sample.labels + " " + sample.value + "\n" }
        }
        func one(_ name: String, _ type: String, _ help: String, _ value: String) { family(name, type, help, [("", value)]) }
        let counters = s.kernelCounters
        func kernel(_ c: KernelCounter) -> UInt64 { counters[c] ?? 0 }

        one("flowgen_up", "gauge", "1 while the collector runs.", "1")
        family("flowgen_build_info", "gauge", "flowgen version.", [("{version=\"\(escape(FlowgenVersion.string))\"}", "1")])
        one("flowgen_start_time_seconds", "gauge", "Unix time the collector started.", format(s.startTime))
        one("flowgen_flows_active", "gauge", "Biflows in the kernel table after the latest collector pass.", "\(s.flowsActive)")
        one("flowgen_table_entries", "gauge", "Flow directions in the kernel table at the latest pass.", "\(s.tableEntries)")
        one("flowgen_table_capacity", "gauge", "Capacity of the kernel flow table in directions (--max-flows).", "\(s.tableCapacity)")
        one("flowgen_flows_exported_total", "counter", "Biflows exported.", "\(s.flowsExported)")
        one("flowgen_flows_evicted_total", "counter",
            "Biflows exported early (end reason lack of resources) because the table passed its high-water mark.", "\(s.flowsEvicted)")
        one("flowgen_table_full_drops_total", "counter",
            "Packets whose new flow could not be inserted because the kernel table was full.", "\(kernel(.tableFull))")
        one("flowgen_parse_errors_total", "counter",
            "Packets with headers that could not be parsed (truncated, bad IPv4/TCP header, VLAN or IPv6 extension chain too deep).",
            "\(parseErrorCounters.map(kernel).reduce(0, &+))")
        one("flowgen_tail_call_failures_total", "counter", "Failed tail calls into later pipeline stages.", "\(kernel(.tailCallFailed))")
        one("flowgen_stage_flow_missing_total", "counter",
            "Packets a later pipeline stage could not update because their flow was gone from the table.", "\(kernel(.stageFlowMissing))")
        one("flowgen_export_errors_total", "counter", "Collector passes whose export or map read failed.", "\(s.exportErrors)")
        one("flowgen_flows_lost_total", "counter", "Ended biflows given up because the output kept failing (a full disk, a full ClickHouse spool).", "\(s.flowsLost + s.sinkFlowsLost)")
        one("flowgen_clickhouse_rows_inserted_total", "counter", "Rows inserted into ClickHouse (--clickhouse).", "\(s.sinkRowsInserted)")
        one("flowgen_clickhouse_flows_spooled", "gauge", "Biflows kept in the ClickHouse spool on disk until the server takes them.", "\(s.sinkFlowsSpooled)")
        one("flowgen_clickhouse_flows_lost_total", "counter", "Biflows the ClickHouse output gave up (spool full, a batch refused 5 times).", "\(s.sinkFlowsLost)")
        one("flowgen_flows_pending", "gauge", "Ended biflows whose export failed, kept to be written again at the next pass.", "\(s.flowsPending)")
        // a summary without quantiles: the exposition format puts `_sum` and `_count` under one
        // family of type summary; as two counters a scraper saw two unrelated series
        family("flowgen_poll_duration_seconds", "summary", "Time spent in collector passes.",
               [("_sum", format(s.pollSecondsTotal)), ("_count", "\(s.passes)")])
        one("flowgen_last_poll_duration_seconds", "gauge", "Duration of the latest collector pass.", format(s.lastPollSeconds))
        one("flowgen_interfaces_attached", "gauge", "Interfaces the monitor is attached to.", "\(s.interfacesAttached)")
        family("flowgen_kernel_counter_total", "counter", "Every failure and event counter of the kernel program, by name.",
               KernelCounter.allCases.map { ("{counter=\"\($0.jsonName)\"}", "\(kernel($0))") })
        return out
    }

    static func format(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6f", value) : "0"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
