import Foundation
import FlowgenCore

/// What a replay did: per file, per packet fate, the kernel's counters and the flows exported.
public struct ReplayStatistics: Sendable {
    /// One capture file.
    public struct File: Sendable, Equatable {
        /// The path as given.
        public var path: String
        /// "pcap", "pcap (ns)" or "pcapng"; nil when the header could not be read.
        public var format: String?
        /// Link types the file announced.
        public var linkTypes: [UInt32]
        /// Packets read from it (up to the damage, if any).
        public var packets: Int
        /// Why reading stopped early (one line), nil when the file was read to its end.
        public var error: String?
    }

    /// The files, in replay order.
    public var files: [File] = []
    /// Packets read from all files.
    public var packetsRead: UInt64 = 0
    /// Packets run through the program with BPF_PROG_TEST_RUN.
    public var packetsRun: UInt64 = 0
    /// Packets not run because their link header names no IP protocol.
    public var notIP: UInt64 = 0
    /// Packets not run because they are shorter than the kernel's test run accepts (a cut IP header).
    public var truncated: UInt64 = 0
    /// Packets the kernel refused to run.
    public var refused: UInt64 = 0
    /// Packets longer than a test run takes, run cut short (their IP header still gives their length).
    public var clipped: UInt64 = 0
    /// The program's own counters (not IP, truncated, table full, ...), summed over CPUs.
    public var kernelCounters: [KernelCounter: UInt64] = [:]
    /// Biflows exported.
    public var flowsExported: UInt64 = 0
    /// Collector passes run during the replay (not counting the final export).
    public var passes: Int = 0
    /// Worker threads.
    public var workers: Int = 0
    /// Wall time of the replay (loading the program not included), seconds.
    public var durationSeconds: Double = 0

    /// Packets read per second of wall time.
    public var packetsPerSecond: Double { durationSeconds > 0 ? Double(packetsRead) / durationSeconds : 0 }

    /// New flows the program could not insert because the table was full.
    public var tableFull: UInt64 { kernelCounters[.tableFull] ?? 0 }

    /// Files that could not be read to their end.
    public var failedFiles: [File] { files.filter { $0.error != nil } }

    /// The statistics as a JSON object (keys sorted, one per line).
    public func json() -> String {
        var counters: [String: UInt64] = [:]
        for c in KernelCounter.allCases { counters[c.jsonName] = kernelCounters[c] ?? 0 }
        let object: [String: Any] = [
            "files": files.map { f -> [String: Any] in
                var o: [String: Any] = ["path": f.path, "packets": f.packets, "link_types": f.linkTypes]
                o["format"] = f.format ?? NSNull()
                o["error"] = f.error ?? NSNull()
                return o
            },
            "packets_read": packetsRead,
            "packets_run": packetsRun,
            "not_ip": notIP,
            "truncated": truncated,
            "refused": refused,
            "clipped": clipped,
            "kernel_counters": counters,
            "flows_exported": flowsExported,
            "table_full": tableFull,
            "passes": passes,
            "workers": workers,
            "duration_seconds": (durationSeconds * 1_000_000).rounded() / 1_000_000,
            "packets_per_second": packetsPerSecond.rounded(),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
