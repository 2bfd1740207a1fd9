import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// Cold compiles of one never-seen source racing into one cache directory, as in a full test run:
/// threads of this process and separate `flowgen replay --engine native` processes at once. Each
/// must compile (a header that is missing, half written or taken for another file fails clang) and
/// all must end in the same cache entry.
@Suite(.serialized) struct CompileCacheRaceTests {
    /// Rounds of the race; each compiles a new source into a new cache.
    static let rounds = 4
    /// Compilers per round inside this process.
    static let threads = 3
    /// `flowgen` processes per round.
    static let processes = 3

    @Test func concurrentColdCompilesOfOneSourceAllSucceedAndShareOneEntry() throws {
        let flowgen = try flowgenBinary()
        let root = NSTemporaryDirectory() + "fgrace-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let features = root + "/features"
        try FileManager.default.createDirectory(atPath: features + "/racecheck", withIntermediateDirectories: true)
        try "name: racecheck\nfields:\n  - name: race_bytes\n    type: u64\n    aggregation: max\n    value: pkt->ip_bytes\n    export: false\nupdate: update.bpf.c\n"
            .write(toFile: features + "/racecheck/feature.yaml", atomically: true, encoding: .utf8)
        let capture = root + "/empty.pcap"
        try PcapWriter(path: capture).close()
        let resources = try ResourceLocator.locate()
        let started = ContinuousClock.now
        var failed: [String] = []
        for round in 0..<Self.rounds {
            // a fresh comment makes a source no cache has seen, so every compiler below starts cold
            try "/* race round \(round) \(UUID().uuidString) */\n"
                .write(toFile: features + "/racecheck/update.bpf.c", atomically: true, encoding: .utf8)
            let plan = try FeatureCatalog(resources: resources, userPaths: [features], allowUnsafe: true)
                .plan(features: "racecheck", maxFlows: Planner.defaultMaxFlows)
            let source = try NativeSource.make(from: CodeGenerator(resources: resources).generate(plan), resources: resources)
            let cache = root + "/cache-\(round)"
            let argv = [flowgen, "replay", "-q", "--engine", "native", "--feature-path", features, "--allow-unsafe-feature-path",
                        "--features", "racecheck", "--cache-dir", cache, capture]
            let errors = RaceErrors()
            let gate = DispatchSemaphore(value: 0)
            let finished = DispatchGroup()
            for worker in 0..<(Self.threads + Self.processes) {
                finished.enter()
                Thread {
                    defer { finished.leave() }
                    gate.wait()
                    do {
                        if worker < Self.threads {
                            _ = try ClangCompiler(cacheDirectory: cache).compile(source, version: FlowgenVersion.string, target: .native)
                        } else {
                            let run = try ProcessRunner.run(argv, timeout: .seconds(60))
                            if run.status != 0 { errors.add("round \(round), process: \(run.stderr)") }
                        }
                    } catch {
                        errors.add("round \(round), thread: \(error)")
                    }
                }.start()
            }
            // every worker waits here, so the compilers start as close together as threads allow
            for _ in 0..<(Self.threads + Self.processes) { gate.signal() }
            finished.wait()
            failed += errors.all
            // the processes' source is the threads' source: one entry (besides the toolchain memo)
            let entries = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0 != "toolchain" }
            #expect(entries.count == 1, "round \(round): \(entries)")
        }
        let elapsed = ContinuousClock.now - started
        print("compile cache race: \(failed.count) of \(Self.rounds * (Self.threads + Self.processes)) compiles failed in \(elapsed)")
        #expect(failed.isEmpty, "\(failed.joined(separator: "\n"))")
    }
}

/// Failures collected from the racing workers.
private final class RaceErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    /// Records one failure (its start: a confused include repeats one line thousands of times).
    func add(_ message: String) { lock.withLock { messages.append(String(message.prefix(3000))) } }

    /// Every failure so far.
    var all: [String] { lock.withLock { messages } }
}
