import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Section 4: how long `flowgen build` takes, spawned as a user runs it (process start, module
/// loading, planning, generation, cache lookup or clang, kernel verification as root), cold with an
/// empty cache directory and cached, plus the cached build's steps timed in-process to show where
/// the time goes.
public final class BuildBenchmark {
    let context: BenchContext
    /// Issue 7's target for a cached build.
    static let cachedTarget = 0.1

    /// Creates the section.
    public init(context: BenchContext) {
        self.context = context
    }

    /// Measures every available preset.
    public func run() throws -> BuildBenchResult {
        var entries: [BuildBenchResult.Entry] = []
        var unavailable: [String] = []
        var failed: [String: String] = [:]
        for set in context.presetSets {
            guard let selection = set.selection else {
                unavailable.append(set.label)
                continue
            }
            do {
                entries.append(try measure(set.label, selection: selection))
            } catch {
                context.log("build: \(set.label) failed: \(error)")
                failed[set.label] = "\(error)"
            }
        }
        return BuildBenchResult(executable: context.options.flowgenExecutable, entries: entries, unavailable: unavailable, failed: failed)
    }

    func measure(_ label: String, selection: String) throws -> BuildBenchResult.Entry {
        let options = context.options
        let repetitions = options.buildRepetitions
        var cold: [Double] = [], cached: [Double] = []
        if let executable = options.flowgenExecutable {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flowgen-bench-build-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            for i in 0..<repetitions {
                context.log("build: \(label), cold \(i + 1)/\(repetitions)")
                let directory = scratch + "/cold-\(i)"
                cold.append(try spawnBuild(executable, selection: selection, cacheDirectory: directory))
                try? FileManager.default.removeItem(atPath: directory)
            }
            let warm = scratch + "/warm"
            _ = try spawnBuild(executable, selection: selection, cacheDirectory: warm)
            for i in 0..<repetitions {
                context.log("build: \(label), cached \(i + 1)/\(repetitions)")
                cached.append(try spawnBuild(executable, selection: selection, cacheDirectory: warm))
            }
        }

        // The same cached build, step by step, in this process (the object is in the cache by now).
        var steps: [String: [Double]] = [:]
        func time<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
            let t = Date()
            defer { steps[step, default: []].append(Date().timeIntervalSince(t)) }
            return try body()
        }
        for _ in 0..<repetitions {
            let catalog = try time("modules") {
                try FeatureCatalog(resources: options.resources, userPaths: options.featurePaths, allowUnsafe: options.allowUnsafeFeaturePath)
            }
            let plan = try time("plan") { try catalog.plan(features: selection) }
            let builder = MonitorBuilder(plan: plan, resources: options.resources, compiler: options.compiler)
            let source = try time("generate") { try builder.generate() }
            _ = try time("cache lookup") { try options.compiler.compile(source, version: FlowgenVersion.string) }
            // What `flowgen build` does next: find the object again, load it (fitting stages if the plan
            // needs them) and let the kernel verify it.
            let monitor = try time("load+verify") { try builder.load() }
            // The same object with a 1,024-entry flow map: the difference is what preallocating the
            // default table costs, the rest is verification and BTF.
            _ = try time("load+verify, 1k map") {
                try LoadedObject(objectPath: monitor.object.objectPath, entryProgram: monitor.plan.entryProgram, mapSizes: ["fg_flows": 1024])
            }
        }
        return .init(preset: label, coldSeconds: cold.isEmpty ? nil : BenchSamples(cold),
                     cachedSeconds: cached.isEmpty ? nil : BenchSamples(cached),
                     cachedSteps: steps.mapValues(BenchSamples.init), cachedTarget: Self.cachedTarget)
    }

    /// Runs `flowgen build` once and returns its wall time in seconds; a failed build is an error.
    func spawnBuild(_ executable: String, selection: String, cacheDirectory: String) throws -> Double {
        var argv = [executable, "build", "--features", selection, "--cache-dir", cacheDirectory, "-q"]
        for path in context.options.featurePaths { argv += ["--feature-path", path] }
        if context.options.allowUnsafeFeaturePath { argv.append("--allow-unsafe-feature-path") }
        if let clang = try? context.options.compiler.clangPath() { argv += ["--clang", clang] }
        let t = Date()
        let result = try ProcessRunner.run(argv, timeout: .seconds(300))
        let elapsed = Date().timeIntervalSince(t)
        try result.check()
        return elapsed
    }
}
