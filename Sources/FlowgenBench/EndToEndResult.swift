import FlowgenKernel
import FlowgenTestSupport
/// Packets per second through a veth pair with and without programs on the receiving end.
public struct EndToEndResult: Codable, Sendable {
    /// One configuration at one flow count.
    public struct Run: Codable, Sendable {
        /// "no program", "minimal", or a preset name.
        public var program: String
        /// Distinct flows the sender cycled through.
        public var flows: Int
        /// Packets per second received, one value per round.
        public var packetsPerSecond: BenchSamples
        /// This rate / the mean no-program rate of the windows just before and after, one value per round.
        public var keep: BenchSamples?
        /// Entries in the program's flow map after the last round (shows the program saw the flows).
        public var flowsInTable: Int?
        /// Smallest allowed median keep fraction, when the issues set one.
        public var keepTarget: Double?

        /// Whether the keep target is met (nil without a target).
        public var met: Bool? { keepTarget.flatMap { target in keep.map { $0.median >= target } } }
    }

    /// How the figures were taken.
    public struct Method: Codable, Sendable {
        /// Seconds each rate is measured over (after a warm-up).
        public var seconds: Double
        /// Rounds of the whole matrix.
        public var rounds: Int
        /// Frame length in bytes (Ethernet header included, no FCS).
        public var frameBytes: Int
        /// CPU the sender (and with it the receive softirq) was pinned to.
        public var senderCPU: Int
        /// What the traffic was.
        public var traffic: String
    }

    /// Method parameters.
    public var method: Method
    /// Every configuration × flow count.
    public var runs: [Run]
    /// Presets that were not measured, and why.
    public var unavailable: [String: String]

    /// Missed targets.
    public var misses: [String] {
        var out = runs.filter { $0.met == false }.map { run -> String in
            // the floors of the same flow count: a target below them is out of any program's reach here
            let floors = ["return-only", "minimal"].compactMap { name in
                runs.first { $0.program == name && $0.flows == run.flows }?.keep.map { "\(name) \(BenchFormat.fraction($0.median))" }
            }
            return "e2e: \(run.program) keeps \(BenchFormat.fraction(run.keep?.median ?? 0)) of the no-program rate with \(run.flows) flow(s), target ≥ \(BenchFormat.fraction(run.keepTarget ?? 0))"
                + (floors.isEmpty ? "" : " (" + floors.joined(separator: ", ") + ")")
        }
        for (name, why) in unavailable.sorted(by: { $0.key < $1.key }) {
            out.append("e2e: \(name) \(why.split(separator: "\n").first ?? ""), its targets are unchecked")
        }
        return out
    }

    /// The table.
    public func render() -> String {
        let counts = Array(Set(runs.map(\.flows))).sorted()
        var header = ["program"]
        for n in counts { header += ["\(n) flow\(n == 1 ? "" : "s") pps", "keep", "target", ""] }
        var table = BenchTable(title: "End to end: veth pair, AF_PACKET sender, \(method.frameBytes)-byte frames, median of \(method.rounds) round(s) of \(method.seconds) s", header: header)
        var programs: [String] = []
        for run in runs where !programs.contains(run.program) { programs.append(run.program) }
        for program in programs {
            var line = [program]
            for n in counts {
                guard let run = runs.first(where: { $0.program == program && $0.flows == n }) else {
                    line += ["", "", "", ""]
                    continue
                }
                line.append(BenchFormat.rate(run.packetsPerSecond.median))
                line.append(run.keep.map { BenchFormat.fraction($0.median) } ?? "")
                line.append(run.keepTarget.map { "≥" + BenchFormat.fraction($0) } ?? "")
                line.append(BenchFormat.verdict(run.met))
            }
            table.add(line)
        }
        for (name, why) in unavailable.sorted(by: { $0.key < $1.key }) {
            table.add([name, why.hasPrefix("failed") ? "failed" : "not available"])
            if why.hasPrefix("failed") { table.notes.append("\(name): \(why.split(separator: "\n").first ?? "")") }
        }
        table.notes.append("traffic: \(method.traffic); sender pinned to CPU \(method.senderCPU); keep = rate / mean of the no-program windows just before and after it")
        return table.render()
    }
}
