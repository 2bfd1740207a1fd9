import Foundation
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

    /// Compiles one file of the directory (cached by content like any flowgen build).
    public func compile(_ file: String, entry: String) throws -> CompiledObject {
        let path = directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw BenchError.missingFile(path)
        }
        let source = GeneratedSource(mainFile: file, files: [file: text], entryProgram: entry)
        return try compiler.compile(source, version: "bench-" + FlowgenVersion.string)
    }

    /// Floor (a): the program that returns at once.
    public func returnOnly() throws -> BenchProgram {
        let object = try compile("return_only.bpf.c", entry: "bench_return_only")
        let pipeline = try LoadedPipeline(objectPath: object.objectPath, entryProgram: "bench_return_only")
        return try BenchProgram(label: "return-only", pipeline: pipeline, flowMap: nil)
    }

    /// Floor (b): parse, one hash lookup, one atomic add, insert on a miss; its map holds `maxFlows`
    /// entries, the capacity the flowgen programs it is compared with get.
    public func minimal(maxFlows: Int) throws -> BenchProgram {
        let object = try compile("minimal.bpf.c", entry: "bench_minimal")
        let pipeline = try LoadedPipeline(objectPath: object.objectPath, entryProgram: "bench_minimal",
                                          mapSizes: ["floor_flows": UInt32(maxFlows)])
        return try BenchProgram(label: "minimal", pipeline: pipeline, flowMap: "floor_flows")
    }

    /// The new-flow driver (see `new_flow_driver.bpf.c`).
    public func newFlowDriver() throws -> NewFlowDriver {
        let object = try compile("new_flow_driver.bpf.c", entry: "bench_new_flow_driver")
        return try NewFlowDriver(pipeline: LoadedPipeline(objectPath: object.objectPath, entryProgram: "bench_new_flow_driver"))
    }
}
