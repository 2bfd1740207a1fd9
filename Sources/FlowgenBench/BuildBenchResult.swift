import FlowgenKernel
import FlowgenTestSupport
/// Wall time of `flowgen build`, cold and cached, with the cached build taken apart in-process.
public struct BuildBenchResult: Codable, Sendable {
    /// One preset's figures.
    public struct Entry: Codable, Sendable {
        /// Preset name.
        public var preset: String
        /// `flowgen build` with an empty cache directory (clang runs), seconds per run.
        public var coldSeconds: BenchSamples?
        /// `flowgen build` again with the same cache (no clang), seconds per run.
        public var cachedSeconds: BenchSamples?
        /// The cached build's steps in-process, seconds: load modules, plan, generate C, find the object, load and
        /// verify, and (for comparison) load and verify with a 1,024-entry flow map.
        public var cachedSteps: [String: BenchSamples]
        /// Target for the cached build.
        public var cachedTarget: Double

        /// Whether the cached spawn meets its target (nil when the binary was not spawned).
        public var met: Bool? { cachedSeconds.map { $0.median <= cachedTarget } }
    }

    /// The binary spawned (nil: only in-process figures).
    public var executable: String?
    /// One entry per available preset.
    public var entries: [Entry]
    /// Presets not available.
    public var unavailable: [String]
    /// Presets whose build failed, with the error.
    public var failed: [String: String]

    /// Missed targets.
    public var misses: [String] {
        entries.filter { $0.met == false }.map {
            "build: cached `flowgen build` of \($0.preset) takes \(BenchFormat.ms($0.cachedSeconds?.median ?? 0)) ms, target ≤ \(BenchFormat.ms($0.cachedTarget)) ms"
        } + failed.keys.sorted().map { "build: \($0) failed to build, unchecked" }
    }

    /// The table.
    public func render() -> String {
        let steps = ["modules", "plan", "generate", "cache lookup", "load+verify", "load+verify, 1k map"]
        var table = BenchTable(title: "Build: `flowgen build` wall time, ms (medians; cold = empty cache, clang runs)",
                               header: ["preset", "cold", "cached", "target", ""] + steps)
        for e in entries {
            table.add([e.preset, e.coldSeconds.map { BenchFormat.ms($0.median) } ?? "-", e.cachedSeconds.map { BenchFormat.ms($0.median) } ?? "-",
                       "≤" + BenchFormat.ms(e.cachedTarget), BenchFormat.verdict(e.met)]
                      + steps.map { e.cachedSteps[$0].map { BenchFormat.ms($0.median) } ?? "" })
        }
        for name in unavailable { table.add([name, "not available"]) }
        for (name, why) in failed.sorted(by: { $0.key < $1.key }) {
            table.add([name, "failed"])
            table.notes.append("\(name): \(why.split(separator: "\n").first ?? "")")
        }
        table.notes.append("cold/cached: the flowgen binary spawned (as root it also verifies); the other columns: the cached build's steps in-process")
        if executable == nil { table.notes.append("the flowgen binary was not given: cold/cached spawns skipped") }
        return table.render()
    }
}
