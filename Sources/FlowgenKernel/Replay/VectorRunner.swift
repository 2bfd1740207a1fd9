import Foundation
import FlowgenCore

/// Runs a module's test vectors (`flowgen test`): each vector's packets go through a fresh build of
/// the module (with the vector's other `features:`) on the native or kernel replay engine, and the
/// flows that come out are compared with the vector (`VectorCheck`).
public struct VectorRunner {
    /// The outcome of one vector on one engine.
    public struct Result: Sendable {
        /// The vector.
        public var vector: String
        /// The engine it ran on.
        public var engine: ReplayEngine
        /// Differences (and flows missing or left over); empty when it passed.
        public var problems: [String]
        /// Whether it passed.
        public var passed: Bool { problems.isEmpty }
    }

    /// The modules the vectors' plans are made of.
    public let catalog: FeatureCatalog
    /// The clang driver (builds are cached).
    public let compiler: ClangCompiler

    /// Creates a runner over `catalog`.
    public init(catalog: FeatureCatalog, compiler: ClangCompiler) {
        self.catalog = catalog
        self.compiler = compiler
    }

    /// Runs `vector` of `module` on `engine`. Throws when the vector or its module cannot be used
    /// (a typo in the file, a build error); a wrong value is a result with problems, not an error.
    public func run(_ vector: TestVector, of module: String, engine: ReplayEngine) throws -> Result {
        let selected = module + vector.parameters.map { ":\($0.name)=\($0.value)" }.joined()
        let plan = try catalog.plan(features: ([selected] + vector.features).joined(separator: ","))
        let check = VectorCheck(plan: plan)
        try check.validate(vector)
        let scratch = try ScratchDirectory()
        let capture: String
        switch vector.input {
        case .capture(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw VectorError(file: vector.file, line: 1, message: "capture file '\(path)' is missing or unreadable")
            }
            capture = path
        case .packets(let packets):
            capture = scratch.path + "/packets.pcap"
            let writer = try PcapWriter(path: capture, linkType: .ethernet, nanosecond: true)
            for p in packets { try writer.append(p.frame, timestampNs: p.timeNs) }
            try writer.close()
        }
        let builder = MonitorBuilder(plan: plan, resources: catalog.resources, compiler: compiler)
        let program: ReplayProgram
        switch engine {
        case .native: program = .native(try builder.loadNative())
        case .kernel: program = .kernel(try builder.load(replay: true))
        }
        let collected = CollectingExporter()
        // one worker: the packets of a vector run in file order on every engine
        let replay = try CaptureReplay(program: program, exporter: collected, options: ReplayOptions(workers: 1))
        let statistics = try replay.run(files: [capture])
        var problems: [String] = []
        if let failed = statistics.failedFiles.first {
            problems.append("the capture could not be read to its end: \(failed.error ?? failed.path)")
        }
        problems += try check.compare(vector, flows: collected.flows)
        return Result(vector: vector.name, engine: engine, problems: problems)
    }
}

/// Keeps every exported flow, in export order.
final class CollectingExporter: FlowExporter, @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [Biflow] = []
    /// The flows exported so far.
    var flows: [Biflow] { lock.withLock { kept } }
    func export(_ flows: [Biflow]) throws { lock.withLock { kept += flows } }
    func close() throws {}
}

/// A private temporary folder (mode 0700), removed with everything in it when released.
final class ScratchDirectory {
    /// Its path.
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flowgen-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw VectorError(file: NSTemporaryDirectory(), line: 1, message: "cannot create a temporary folder: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
