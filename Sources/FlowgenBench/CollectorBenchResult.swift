import FlowgenKernel
import FlowgenTestSupport
/// Collector throughput and memory over a kernel flow table filled with synthetic flows.
public struct CollectorBenchResult: Codable, Sendable {
    /// One preset's figures.
    public struct Entry: Codable, Sendable {
        /// Preset name.
        public var preset: String
        /// Directions put in the kernel map (two per biflow).
        public var directions: Int
        /// Biflows they pair into.
        public var biflows: Int
        /// Bytes of one kernel record.
        public var recordBytes: Int
        /// Seconds to fill the map (batch updates; not part of the collector's cost).
        public var fillSeconds: BenchSamples
        /// Seconds of a pass over the full table in which no flow ends (batch read, decode, pairing).
        public var activePassSeconds: BenchSamples
        /// Seconds of a pass that ends and exports every flow: read, pair, decide, decode, remove
        /// (batch deletes of the quiet flows' keys), format JSON lines, write them to /dev/null.
        public var exportPassSeconds: BenchSamples
        /// Seconds of the export pass spent formatting and writing JSON.
        public var formatSeconds: BenchSamples
        /// Biflows exported per second by the export pass (median).
        public var flowsPerSecond: Double
        /// Seconds of the same pass exporting IPFIX (an IPFIX file written to /dev/null).
        public var ipfixPassSeconds: BenchSamples
        /// Biflows exported per second as IPFIX (median).
        public var ipfixFlowsPerSecond: Double
        /// Seconds of the flush: the whole table drained in one batch walk, paired, written as JSON lines.
        public var flushSeconds: BenchSamples
        /// Biflows flushed per second (median).
        public var flushFlowsPerSecond: Double
        /// Seconds of the kernel floor of the JSON/IPFIX pass, measured in the same round on the
        /// same map: the chunked `FlowTable.walk` the pass makes, each chunk's keys removed by one
        /// `deleteBatch(keys:)` after it is read; the map system calls alone, no pairing, decoding or output.
        public var passFloorSeconds: BenchSamples
        /// Biflows per second the pass floor allows (median): no JSON or IPFIX pass can beat it here.
        public var passFloorFlowsPerSecond: Double
        /// Seconds of the kernel floor of the flush, measured likewise: `FlowTable.drain()`
        /// (`LOOKUP_AND_DELETE_BATCH` walk) of the full table.
        public var flushFloorSeconds: BenchSamples
        /// Biflows per second the flush floor allows (median).
        public var flushFloorFlowsPerSecond: Double
        /// The kernel path (flows ended by the pass program, moved through its ring), when the
        /// monitor has it: seconds of a pass in which nothing ends.
        public var kernelActivePassSeconds: BenchSamples?
        /// Seconds of a kernel pass that ends every flow and exports it as JSON lines.
        public var kernelExportPassSeconds: BenchSamples?
        /// Biflows per second of that pass (median).
        public var kernelFlowsPerSecond: Double?
        /// Seconds of the same kernel pass exporting IPFIX.
        public var kernelIPFIXPassSeconds: BenchSamples?
        /// Biflows per second of it (median).
        public var kernelIPFIXFlowsPerSecond: Double?
        /// Seconds of the kernel flush (every flow ended, JSON lines).
        public var kernelFlushSeconds: BenchSamples?
        /// Biflows per second of it (median).
        public var kernelFlushFlowsPerSecond: Double?
        /// Peak resident memory above the pre-pass level during the kernel JSON pass, per biflow.
        public var kernelPeakBytesPerExportedFlow: Double?
        /// Issue 18's target for the kernel path: 1,000,000 biflows/s for base, 600,000 for seed (nil: none).
        public var kernelFlowsPerSecondTarget: Double?
        /// Seconds of the per-direction twin of the kernel pass (`PassTwin`, flowgen's layout with the
        /// preset's key and record sizes) ending every flow of the same synthetic table, same rounds.
        public var twinPerDirectionSeconds: BenchSamples?
        /// Biflows per second of it (median): the floor of the kernel pass in today's layout.
        public var twinPerDirectionFlowsPerSecond: Double?
        /// Seconds of the per-biflow twin (one entry per biflow, both records in one value), same rounds.
        public var twinPerBiflowSeconds: BenchSamples?
        /// Biflows per second of it (median): what the layout not taken would allow.
        public var twinPerBiflowFlowsPerSecond: Double?
        /// JSON bytes per exported flow.
        public var jsonBytesPerFlow: Double
        /// Peak resident memory above the pre-pass level during the active pass, per biflow.
        public var peakBytesPerActiveFlow: Double
        /// Peak resident memory above the pre-pass level during the export pass, per biflow.
        public var peakBytesPerExportedFlow: Double
        /// Resident memory still held after the passes, per biflow (malloc keeps freed pages).
        public var retainedBytesPerFlow: Double
        /// Target: at least this many biflows per second.
        public var flowsPerSecondTarget: Double
        /// Target: at most this many resident bytes per active biflow.
        public var bytesPerFlowTarget: Double

        /// Whether the throughput target is met by the JSON export pass, the IPFIX one and the flush.
        public var throughputMet: Bool { slowestRate >= flowsPerSecondTarget }
        /// The lowest of the three export rates.
        public var slowestRate: Double { Swift.min(flowsPerSecond, ipfixFlowsPerSecond, flushFlowsPerSecond) }
        /// The lowest of the kernel path's three rates (nil without it).
        public var kernelSlowestRate: Double? {
            guard let a = kernelFlowsPerSecond, let b = kernelIPFIXFlowsPerSecond, let c = kernelFlushFlowsPerSecond else { return nil }
            return Swift.min(a, b, c)
        }
        /// Whether the kernel path meets its target (true when it has none).
        public var kernelThroughputMet: Bool {
            guard let target = kernelFlowsPerSecondTarget else { return true }
            return (kernelSlowestRate ?? 0) >= target
        }
        /// Whether the memory target is met (the larger of the two peaks counts).
        public var memoryMet: Bool { Swift.max(peakBytesPerActiveFlow, peakBytesPerExportedFlow) <= bytesPerFlowTarget }
    }

    /// One entry per available preset.
    public var entries: [Entry]
    /// Presets not measured, and why.
    public var unavailable: [String: String]

    /// Missed targets.
    public var misses: [String] {
        var out: [String] = []
        for e in entries {
            if !e.throughputMet {
                out.append("collector: \(e.preset) exports \(BenchFormat.rate(e.flowsPerSecond)) flows/s as JSON, \(BenchFormat.rate(e.ipfixFlowsPerSecond)) as IPFIX, "
                           + "flushes \(BenchFormat.rate(e.flushFlowsPerSecond)); target ≥ \(BenchFormat.rate(e.flowsPerSecondTarget)) each; "
                           + "the map system calls alone allow \(BenchFormat.rate(e.passFloorFlowsPerSecond)) / \(BenchFormat.rate(e.flushFloorFlowsPerSecond)) here")
            }
            if !e.kernelThroughputMet, let target = e.kernelFlowsPerSecondTarget {
                var twins = ""
                if let perDirection = e.twinPerDirectionFlowsPerSecond, let perBiflow = e.twinPerBiflowFlowsPerSecond {
                    twins = "; the per-direction layout's own floor allows \(BenchFormat.rate(perDirection)) here; one entry per biflow \(BenchFormat.rate(perBiflow))"
                }
                out.append("collector: \(e.preset)'s kernel pass exports \(BenchFormat.rate(e.kernelFlowsPerSecond ?? 0)) flows/s as JSON, "
                           + "\(BenchFormat.rate(e.kernelIPFIXFlowsPerSecond ?? 0)) as IPFIX, flushes \(BenchFormat.rate(e.kernelFlushFlowsPerSecond ?? 0)); target ≥ \(BenchFormat.rate(target)) each"
                           + twins)
            }
            if !e.memoryMet {
                // the target is set for a million active flows; on fewer, the fixed buffers (export
                // batches, output blocks) weigh more per flow
                let size = e.directions < 1_000_000 ? " (a table of \(e.directions) directions; the target is set for 1,000,000, where fixed buffers weigh less)" : ""
                out.append("collector: \(e.preset) peaks at \(Int(Swift.max(e.peakBytesPerActiveFlow, e.peakBytesPerExportedFlow))) resident bytes per flow, target ≤ \(Int(e.bytesPerFlowTarget))" + size)
            }
        }
        for (what, why) in unavailable.sorted(by: { $0.key < $1.key }) {
            out.append("collector: \(what) \(why.split(separator: "\n").first ?? ""), its target is unchecked")
        }
        return out
    }

    /// The table.
    public func render() -> String {
        var table = BenchTable(title: "Collector: kernel table of synthetic flows, read, decoded, merged, exported to /dev/null (medians)",
                               header: ["preset", "directions", "record B", "active pass s", "JSON pass s", "of it JSON s", "flows/s",
                                        "IPFIX pass s", "flows/s", "kernel floor flows/s", "flush s", "flows/s", "kernel floor flows/s",
                                        "target", "", "peak B/flow", "target", ""])
        for e in entries {
            table.add([e.preset, String(e.directions), String(e.recordBytes), BenchFormat.seconds(e.activePassSeconds.median),
                       BenchFormat.seconds(e.exportPassSeconds.median), BenchFormat.seconds(e.formatSeconds.median),
                       BenchFormat.rate(e.flowsPerSecond), BenchFormat.seconds(e.ipfixPassSeconds.median), BenchFormat.rate(e.ipfixFlowsPerSecond),
                       BenchFormat.rate(e.passFloorFlowsPerSecond),
                       BenchFormat.seconds(e.flushSeconds.median), BenchFormat.rate(e.flushFlowsPerSecond),
                       BenchFormat.rate(e.flushFloorFlowsPerSecond),
                       "≥" + BenchFormat.rate(e.flowsPerSecondTarget), BenchFormat.verdict(e.throughputMet),
                       String(Int(Swift.max(e.peakBytesPerActiveFlow, e.peakBytesPerExportedFlow))),
                       "≤" + String(Int(e.bytesPerFlowTarget)), BenchFormat.verdict(e.memoryMet)])
        }
        for (what, why) in unavailable.sorted(by: { $0.key < $1.key }) {
            table.add([what, why.hasPrefix("failed") ? "failed" : "not available"])
            table.notes.append("\(what): \(why.split(separator: "\n").first ?? "")")
        }
        table.notes.append("flow = biflow (two directions); JSON/IPFIX pass: every flow idle, removed in batches; flush: the table drained at once")
        table.notes.append("kernel floor: the map system calls alone on the same table, same round (pass: batch read a chunk at a time, each chunk's keys batch-deleted; "
                           + "flush: lookup-and-delete batch walk)")
        table.notes.append("peak B/flow = VmHWM growth over the active and JSON passes / biflows (the kernel map is not in it)")
        var kernel = BenchTable(title: "Collector, kernel pass: flows ended in the kernel and moved through its ring, next to the map system calls' floor (medians)",
                                header: ["preset", "directions", "active pass s", "JSON pass s", "flows/s", "IPFIX pass s", "flows/s",
                                         "flush s", "flows/s", "map-call floor flows/s", "twin, per direction", "JSON ÷ twin", "twin, per biflow",
                                         "target", "", "peak B/flow"])
        for e in entries {
            guard let json = e.kernelFlowsPerSecond, let ipfix = e.kernelIPFIXFlowsPerSecond, let flush = e.kernelFlushFlowsPerSecond else {
                kernel.add([e.preset, String(e.directions), "no kernel pass"])
                continue
            }
            kernel.add([e.preset, String(e.directions), BenchFormat.seconds(e.kernelActivePassSeconds?.median ?? 0),
                        BenchFormat.seconds(e.kernelExportPassSeconds?.median ?? 0), BenchFormat.rate(json),
                        BenchFormat.seconds(e.kernelIPFIXPassSeconds?.median ?? 0), BenchFormat.rate(ipfix),
                        BenchFormat.seconds(e.kernelFlushSeconds?.median ?? 0), BenchFormat.rate(flush),
                        BenchFormat.rate(e.passFloorFlowsPerSecond),
                        e.twinPerDirectionFlowsPerSecond.map(BenchFormat.rate) ?? "-",
                        e.twinPerDirectionFlowsPerSecond.map { BenchFormat.fraction(json / $0) } ?? "-",
                        e.twinPerBiflowFlowsPerSecond.map(BenchFormat.rate) ?? "-",
                        e.kernelFlowsPerSecondTarget.map { "≥" + BenchFormat.rate($0) } ?? "-", e.kernelFlowsPerSecondTarget == nil ? "" : BenchFormat.verdict(e.kernelThroughputMet),
                        String(Int(e.kernelPeakBytesPerExportedFlow ?? 0))])
        }
        kernel.notes.append("kernel pass: one run marks every ended flow closing, an RCU grace period, runs that move them to the ring and delete them; the collector reads the ring in place")
        kernel.notes.append("map-call floor: the userland pass's batch read + batch delete system calls alone (the limit the kernel pass replaces)")
        kernel.notes.append("twins (presets with a target): the kernel pass stripped to what the table's layout makes it do (no end rules, no pairing, decoding or output), "
                            + "same key, record and ring sizes, ending every flow of the same synthetic table in the same rounds; per direction: flowgen's layout, "
                            + "reverse looked up in the mark and the move (the real pass's floor); per biflow: one entry holding both directions, the layout not taken; "
                            + "JSON ÷ twin: the JSON pass over the per-direction twin")
        return table.render() + "\n" + kernel.render()
    }
}
