import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// Offline replay of one capture by `flowgen replay` and by other flow exporters, with the floor of
/// kernel replay (one BPF_PROG_TEST_RUN call per packet).
public struct ReplayBenchResult: Codable, Sendable {
    /// One tool's figures.
    public struct Tool: Codable, Sendable {
        /// Tool name.
        public var name: String
        /// The command line that ran (the capture path abbreviated as FILE).
        public var command: String
        /// Wall seconds per run.
        public var seconds: BenchSamples
        /// CPU seconds (user + system) per wall second, median: the cores it kept busy.
        public var coresUsed: Double
    }

    /// Whether `flowgen replay` exists in this build (the section is skipped otherwise).
    public var available: Bool
    /// Why not, when it is not.
    public var reason: String?
    /// Packets in the capture.
    public var packets: Int
    /// Flows in the capture.
    public var flows: Int
    /// flowgen and its peers.
    public var tools: [Tool]
    /// Peers that are not installed.
    public var missingTools: [String]
    /// Wall time of one test run of the return-only floor (repeat 1), µs: the least kernel replay can cost per packet.
    public var testRunCallMicroseconds: Double?
    /// That floor for the whole capture on the cores flowgen replay used, seconds.
    public var floorSeconds: Double?
    /// Targets: flowgen (the faster engine) ≤ 1.5 × nfpcapd and the kernel engine ≤ 1.25 × the floor.
    public var nfpcapdTarget = 1.5
    /// See `nfpcapdTarget`.
    public var floorTarget = 1.25
    /// Target: nfstream takes at least this many times as long as `flowgen replay --features nfstream` (issue 16).
    public var nfstreamSpeedupTarget = 20.0

    /// Name of the native engine's row.
    static let nativeName = "flowgen replay (native)"
    /// Name of the native engine's row with `--features nfstream`.
    static let nfstreamFeaturesName = "flowgen replay --features nfstream (native)"
    /// Name of nfstream's row (statistical_analysis=True, accounting_mode=1, no dissection).
    static let nfstreamName = "nfstream 6.6"

    var flowgen: Tool? { tools.first { $0.name == "flowgen replay" } }
    var flowgenNative: Tool? { tools.first { $0.name == Self.nativeName } }
    var nfpcapd: Tool? { tools.first { $0.name == "nfpcapd" } }
    /// The faster of the two engines, which the nfpcapd target is judged on.
    var fastestFlowgen: Tool? {
        [flowgen, flowgenNative].compactMap { $0 }.min { $0.seconds.median < $1.seconds.median }
    }
    /// "kernel" or "native": the engine `ratioToNfpcapd` is measured on.
    var fastestEngine: String { fastestFlowgen?.name == Self.nativeName ? "native" : "kernel" }

    /// The faster flowgen engine's time / nfpcapd's.
    public var ratioToNfpcapd: Double? {
        guard let f = fastestFlowgen, let n = nfpcapd, n.seconds.median > 0 else { return nil }
        return f.seconds.median / n.seconds.median
    }

    /// nfstream's time / `flowgen replay --features nfstream`'s on the native engine.
    public var nfstreamSpeedup: Double? {
        guard let f = tools.first(where: { $0.name == Self.nfstreamFeaturesName }), let n = tools.first(where: { $0.name == Self.nfstreamName }),
              f.seconds.median > 0 else { return nil }
        return n.seconds.median / f.seconds.median
    }

    /// The kernel engine's time / the kernel replay floor.
    public var ratioToFloor: Double? {
        guard let f = flowgen, let floor = floorSeconds, floor > 0 else { return nil }
        return f.seconds.median / floor
    }

    /// Missed targets.
    public var misses: [String] {
        var out: [String] = []
        if !available { out.append("replay: not available (\(reason ?? "")), its targets are unchecked") }
        if let r = ratioToNfpcapd, r > nfpcapdTarget { out.append("replay: flowgen (\(fastestEngine) engine, the faster) takes \(BenchFormat.ratio(r)) nfpcapd's time, target ≤ \(BenchFormat.ratio(nfpcapdTarget))") }
        if let r = ratioToFloor, r > floorTarget { out.append("replay: the kernel engine takes \(BenchFormat.ratio(r)) the kernel replay floor, target ≤ \(BenchFormat.ratio(floorTarget))") }
        if let r = nfstreamSpeedup, r < nfstreamSpeedupTarget {
            out.append("replay: --features nfstream is \(BenchFormat.ratio(r)) faster than nfstream 6.6 on the same capture, target ≥ \(BenchFormat.ratio(nfstreamSpeedupTarget))")
        }
        return out
    }

    /// The table.
    public func render() -> String {
        var table = BenchTable(title: "Replay: \(packets) packets, \(flows) flows (medians)", header: ["tool", "seconds", "cores", "command"])
        guard available else {
            table.add(["flowgen replay", "not available", "", reason ?? ""])
            return table.render()
        }
        for tool in tools {
            table.add([tool.name, BenchFormat.seconds(tool.seconds.median), String(format: "%.2f", tool.coresUsed), tool.command])
        }
        if let floor = floorSeconds, let call = testRunCallMicroseconds {
            table.add(["kernel replay floor", BenchFormat.seconds(floor), "", String(format: "%.2f µs per test-run call", call)])
        }
        for tool in missingTools { table.add([tool, "not installed"]) }
        let ratios = [ratioToNfpcapd.map { "flowgen/nfpcapd \(BenchFormat.ratio($0)) with the \(fastestEngine) engine, the faster (target ≤ \(BenchFormat.ratio(nfpcapdTarget))) \(BenchFormat.verdict($0 <= nfpcapdTarget))" },
                      ratioToFloor.map { "flowgen kernel engine/floor \(BenchFormat.ratio($0)) (target ≤ \(BenchFormat.ratio(floorTarget))) \(BenchFormat.verdict($0 <= floorTarget))" },
                      nfstreamSpeedup.map { "nfstream 6.6/flowgen --features nfstream \(BenchFormat.ratio($0)) (target ≥ \(BenchFormat.ratio(nfstreamSpeedupTarget))) \(BenchFormat.verdict($0 >= nfstreamSpeedupTarget))" }]
        table.notes += ratios.compactMap { $0 }
        return table.render()
    }
}
