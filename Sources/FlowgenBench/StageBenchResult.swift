import FlowgenKernel
import FlowgenTestSupport
/// What tail-called stages cost on the existing-flow path: each stage of a split pipeline, and one
/// tail call measured as seed split in three programs against seed as one.
public struct StageBenchResult: Codable, Sendable {
    /// One stage of one pipeline for one packet class.
    public struct Stage: Codable, Sendable {
        /// Pipeline label ("all").
        public var pipeline: String
        /// Stage index (0 = entry program).
        public var stage: Int
        /// Feature modules in the stage.
        public var features: [String]
        /// Packet class.
        public var traffic: String
        /// Median ns per packet this stage adds (stage 0: the entry program alone, failed call included).
        public var nsAdded: Double
        /// ns per packet with stages 0…`stage` enabled.
        public var samples: BenchSamples
    }

    /// The tail-call comparison for one packet class.
    public struct TailCall: Codable, Sendable {
        /// Packet class.
        public var traffic: String
        /// seed as one program, ns per packet.
        public var singleNs: Double
        /// seed split, ns per packet.
        public var splitNs: Double
        /// (split − single) / tail calls, median of per-round values.
        public var nsPerTailCall: Double
        /// Tail calls per packet in the split pipeline (when every stage applies).
        public var tailCalls: Int
    }

    /// Every stage of every split pipeline, per class.
    public var perStage: [Stage]
    /// Per class.
    public var tailCall: [TailCall]

    /// The tables.
    public func render() -> String {
        var out = ""
        let classes = BenchTraffic.allCases.map(\.rawValue)
        let pipelines = perStage.reduce(into: [String]()) { if !$0.contains($1.pipeline) { $0.append($1.pipeline) } }
        for pipeline in pipelines {
            var table = BenchTable(title: "Kernel, stages of \(pipeline): ns/packet each stage adds, existing flow (medians)",
                                   header: ["stage", "features"] + classes)
            let stages = perStage.filter { $0.pipeline == pipeline }
            for index in Set(stages.map(\.stage)).sorted() {
                let cells = stages.filter { $0.stage == index }
                table.add([index == 0 ? "entry" : "stage \(index)", cells.first?.features.joined(separator: ",") ?? ""]
                          + classes.map { c in cells.first { $0.traffic == c }.map { BenchFormat.ns($0.nsAdded) } ?? "-" })
            }
            table.notes.append("stage N: time added when its tail-call slot is filled (its features, the tail call, the hand-over); "
                               + "a stage whose features do not apply to the class adds only noise")
            out += table.render()
        }
        var table = BenchTable(title: "Kernel, tail calls: seed as one program against seed split in three (ns/packet, medians)",
                               header: ["", "one program", "3 stages", "per tail call"])
        for t in tailCall {
            table.add([t.traffic, BenchFormat.ns(t.singleNs), BenchFormat.ns(t.splitNs), BenchFormat.ns(t.nsPerTailCall)])
        }
        table.notes.append("stages: " + StageBenchmark.seedSplit.map { $0.joined(separator: ",") }.joined(separator: " | ")
                           + " (both apply to every class); per tail call = (3 stages − one program) / 2: the call, the hand-over "
                           + "of the parsed packet through a per-CPU map and the stage's own lookup of the flow entry")
        out += table.render()
        return out
    }
}
