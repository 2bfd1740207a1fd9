import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// Compiles the benchmark's own BPF programs from `Templates/bench/` with the same `ClangCompiler`
/// (flags, cache and clang) as flowgen's monitors, and loads them.
public struct FloorBuilder {
    /// The clang driver.
    public let compiler: ClangCompiler
    /// `Templates/bench`.
    public let directory: String

    /// Creates a builder over a bench templates directory.
    public init(compiler: ClangCompiler, directory: String) {
        self.compiler = compiler
        self.directory = directory
    }

    /// Compiles one file of the directory (cached by content like any flowgen build), with `defines`
    /// put before its first line.
    public func compile(_ file: String, entry: String, defines: [String: Int] = [:]) throws -> CompiledObject {
        let path = directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw BenchError.missingFile(path)
        }
        let prefix = defines.sorted { $0.key < $1.key }.map { "#define \($0.key) \($0.value)\n" }.joined()
        let source = GeneratedSource(mainFile: file, files: [file: prefix + text], entryProgram: entry)
        return try compiler.compile(source, version: "bench-" + FlowgenVersion.string)
    }

    /// Floor (a): the program that returns at once.
    public func returnOnly() throws -> BenchProgram {
        let object = try compile("return_only.bpf.c", entry: "bench_return_only")
        let pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: "bench_return_only")
        return try BenchProgram(label: "return-only", pipeline: pipeline, flowMap: nil)
    }

    /// Floor (b): parse, one hash lookup, one atomic add, insert on a miss; its map holds `maxFlows`
    /// entries, the capacity the flowgen programs it is compared with get.
    public func minimal(maxFlows: Int) throws -> BenchProgram {
        try minimal(maxFlows: maxFlows, label: "minimal", defines: [:])
    }

    /// A preset's floor twin: the minimal program with a value of the preset's record size and, when
    /// the preset stamps every packet with the ns clock, the same clock read per packet. It prices what
    /// the record's size and the clock cost by themselves (see minimal.bpf.c).
    public func minimalTwin(of label: String, maxFlows: Int, recordBytes: Int, preciseClock: Bool) throws -> BenchProgram {
        let twin = "minimal [\(label)'s \(recordBytes) B record\(preciseClock ? ", ns clock" : "")]"
        return try minimal(maxFlows: maxFlows, label: twin,
                           defines: ["FLOOR_RECORD_BYTES": recordBytes, "FLOOR_PRECISE_CLOCK": preciseClock ? 1 : 0])
    }

    /// The twin with one entry per biflow (canonical key, both directions' records in one value):
    /// prices the table layout flowgen did not take, which would halve the collector's map calls
    /// (see minimal.bpf.c and BENCHMARKS.md).
    public func minimalBiflowTwin(of label: String, maxFlows: Int, recordBytes: Int, preciseClock: Bool) throws -> BenchProgram {
        let twin = "minimal [\(label)'s 2 × \(recordBytes) B biflow record\(preciseClock ? ", ns clock" : "")]"
        return try minimal(maxFlows: maxFlows, label: twin,
                           defines: ["FLOOR_RECORD_BYTES": recordBytes, "FLOOR_PRECISE_CLOCK": preciseClock ? 1 : 0, "FLOOR_BIFLOW": 1])
    }

    func minimal(maxFlows: Int, label: String, defines: [String: Int]) throws -> BenchProgram {
        let object = try compile("minimal.bpf.c", entry: "bench_minimal", defines: defines)
        let pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: "bench_minimal",
                                          mapSizes: ["floor_flows": UInt32(maxFlows)])
        return try BenchProgram(label: label, pipeline: pipeline, flowMap: "floor_flows")
    }

    /// A twin of the collector's kernel pass over `layout` (see `pass_twin.bpf.c`) for keys of
    /// `keyBytes` and records of `recordBytes`, with a table of `directions` capacity (half as many
    /// entries per biflow) and a ring of `ringBytes`, the real pass's.
    public func passTwin(_ layout: PassTwin.Layout, keyBytes: Int, recordBytes: Int, directions: Int, ringBytes: Int) throws -> PassTwin {
        let biflow = layout == .perBiflow
        let object = try compile("pass_twin.bpf.c", entry: "bench_pass_twin",
                                 defines: ["TWIN_KEY_BYTES": keyBytes, "TWIN_RECORD_BYTES": recordBytes, "TWIN_BIFLOW": biflow ? 1 : 0])
        let pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: "bench_pass_twin",
                                        mapSizes: ["twin_flows": UInt32(biflow ? (directions + 1) / 2 : directions),
                                                   "twin_ended": UInt32(ringBytes)])
        return try PassTwin(layout: layout, object: pipeline, recordBytes: recordBytes)
    }

    /// A stamp driver (see `stamp_driver.bpf.c`) pointed at `target`: a program whose test runs reach
    /// `target` with a CLOCK_MONOTONIC `skb->tstamp`, as TCP's segments do, `stepNanoseconds` apart.
    public func stamped(_ target: BenchProgram, label: String, stepNanoseconds: Int) throws -> BenchProgram {
        let object = try compile("stamp_driver.bpf.c", entry: "bench_stamp_driver", defines: ["BENCH_STAMP_STEP": stepNanoseconds])
        let pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: "bench_stamp_driver")
        try NewFlowDriver.point(try pipeline.mapFD("bench_target"), at: target, driver: "stamp driver")
        return BenchProgram(label: label, driver: pipeline, target: target)
    }

    /// The new-flow driver (see `new_flow_driver.bpf.c`).
    public func newFlowDriver() throws -> NewFlowDriver {
        let object = try compile("new_flow_driver.bpf.c", entry: "bench_new_flow_driver")
        return try NewFlowDriver(pipeline: LoadedObject(objectPath: object.objectPath, entryProgram: "bench_new_flow_driver"))
    }
}
