import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// `flowgen replay` over the tcpdump project's 830 test captures (many deliberately malformed, many
/// link types): no file crashes or hangs the binary, every file is either processed or refused in
/// one line that names it, and the files of link types replay reads are processed.
@Suite struct ReplayCorpusTests {
    /// `Tests/Captures/tcpdump-tests`, the corpus kept in the repository (see its README).
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Captures/tcpdump-tests").standardized.path

    /// One batch's outcome: per file nil (processed) or its one-line error.
    struct Batch {
        var files: [String: String?] = [:]
        var problems: [String] = []
    }

    @Test func everyCaptureIsReplayedOrRefusedInOneLine() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).sorted()
        try #require(names.count >= 800, "the capture corpus is missing at \(Self.corpus)")
        let paths = names.map { Self.corpus + "/" + $0 }
        let work = NSTemporaryDirectory() + "fgcorpus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        // batches of ~100 files, two at a time, each bounded in time; a batch that crashes or hangs
        // is replayed again file by file to name the culprit
        let batches = stride(from: 0, to: paths.count, by: 100).map { Array(paths[$0..<min($0 + 100, paths.count)]) }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for (index, batch) in batches.enumerated() where index % 2 == worker {
                results.add(Self.replay(batch, flowgen: flowgen, tag: "\(index)", work: work, timeout: .seconds(120)))
            }
        }
        let outcome = results.merged
        for problem in outcome.problems { Issue.record("\(problem)") }
        #expect(outcome.files.count == paths.count, "\(paths.count - outcome.files.count) files unaccounted for")

        var refusedByLinkType = 0, otherRefusals: [String] = []
        for (path, error) in outcome.files {
            guard let error else { continue }
            #expect(!error.contains("\n") && error.hasPrefix(path + ": "), "not a one-line reason naming the file: \(error)")
            if error.contains(": link type ") { refusedByLinkType += 1 } else { otherRefusals.append(error) }
        }
        let processed = outcome.files.values.filter { $0 == nil }.count
        let readable = processed + otherRefusals.count
        print("replay corpus: \(paths.count) files, \(processed) processed, \(refusedByLinkType) refused for their link type, "
              + "\(otherRefusals.count) refused otherwise")
        // of the files whose link layer replay decodes, at least 95% are processed
        #expect(Double(processed) >= 0.95 * Double(readable), "only \(processed) of \(readable) processed: \(otherRefusals.prefix(10))")
        // and at least 95% of the whole corpus: the rest are link types replay does not decode
        #expect(Double(processed) >= 0.95 * Double(paths.count), "\(processed) of \(paths.count) corpus files processed")
    }

    /// Replays `files` as one run (timeout, then SIGKILL); on a crash or timeout, file by file.
    static func replay(_ files: [String], flowgen: String, tag: String, work: String, timeout: Duration) -> Batch {
        var batch = Batch()
        let stats = work + "/stats-\(tag).json"
        let argv = [flowgen, "replay", "-q", "--format", "none", "--ipfix", "file://\(work)/flows-\(tag).ipfix",
                    "--stats-json", stats] + files
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(argv, timeout: timeout)
        } catch {
            if files.count == 1 {
                batch.problems.append("\(files[0]): \(error)")
                batch.files[files[0]] = .some("hang")
                return batch
            }
            return bisect(files, flowgen: flowgen, tag: tag, work: work, first: "batch \(tag) hung: \(error)")
        }
        guard !result.terminatedBySignal, result.status == 0 || result.status == 1,
              let data = FileManager.default.contents(atPath: stats),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = object["files"] as? [[String: Any]] else {
            let why = "exit \(result.status)\(result.terminatedBySignal ? " (signal)" : ""): \(result.stderr.suffix(500))"
            if files.count == 1 {
                batch.problems.append("\(files[0]) crashed flowgen replay: \(why)")
                batch.files[files[0]] = .some("crash")
                return batch
            }
            return bisect(files, flowgen: flowgen, tag: tag, work: work, first: "batch \(tag) failed, \(why)")
        }
        let errorLines = Set(result.stderr.split(separator: "\n").filter { $0.hasPrefix("flowgen: error: ") }
            .map { String($0.dropFirst("flowgen: error: ".count)) })
        for entry in entries {
            guard let path = entry["path"] as? String else { continue }
            let error = entry["error"] as? String
            if let error, !errorLines.contains(error) {
                batch.problems.append("\(path): its error is not reported as one line on stderr: \(error)")
            }
            batch.files[path] = .some(error)
        }
        return batch
    }

    private static func bisect(_ files: [String], flowgen: String, tag: String, work: String, first: String) -> Batch {
        var batch = Batch()
        batch.problems.append(first)
        for (index, file) in files.enumerated() {
            let single = replay([file], flowgen: flowgen, tag: "\(tag)-\(index)", work: work, timeout: .seconds(20))
            batch.files.merge(single.files) { a, _ in a }
            batch.problems += single.problems
        }
        return batch
    }

    /// Thread-safe accumulation of batch results.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var batches: [Batch] = []

        func add(_ batch: Batch) { lock.withLock { batches.append(batch) } }

        var merged: Batch {
            lock.withLock {
                var all = Batch()
                for batch in batches {
                    all.files.merge(batch.files) { a, _ in a }
                    all.problems += batch.problems
                }
                return all
            }
        }
    }
}
