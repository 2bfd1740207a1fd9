import FlowgenCore

/// A monitor built for the machine flowgen runs on instead of the kernel: the plan's generated C,
/// unchanged, compiled with `-DFG_NATIVE` into a shared library (through the same clang and cache
/// as the BPF object) and loaded with dlopen. It runs frames with a function call, holds its flow
/// table and counters in process memory, and needs neither root nor BPF. Used by
/// `replay --engine native`; tests prove it exports the same flows as the kernel program.
public final class NativeMonitor {
    /// The plan it was built from (as given: a native build needs no stage split, but runs one).
    public let plan: Plan
    /// The library in the compile cache (`objectPath` is `native.so`).
    public let object: CompiledObject
    let library: NativeLibrary

    /// Builds (or finds in the cache) the native library of `plan` and loads a private copy of it.
    public convenience init(plan: Plan, resources: ResourceLocator, compiler: ClangCompiler) throws {
        let source = try NativeSource.make(from: CodeGenerator(resources: resources).generate(plan), resources: resources)
        let object: CompiledObject
        do {
            object = try compiler.compile(source, version: FlowgenVersion.string, target: .native)
        } catch let KernelError.compileFailed(log) {
            throw NativeError.compileFailed(log: log)
        }
        try self.init(plan: plan, object: object)
    }

    /// Loads a native library already built for `plan`, checking its layout against the plan.
    public init(plan: Plan, object: CompiledObject) throws {
        self.plan = plan
        self.object = object
        library = try NativeLibrary(path: object.objectPath)
        var problems: [String] = []
        let keySize = FlowKey.byteSize(defines: plan.defines)
        if library.keySize != keySize { problems.append("struct fg_flow_key is \(library.keySize) bytes, \(keySize) expected") }
        if library.valueSize != plan.layout.size { problems.append("struct fg_record is \(library.valueSize) bytes, the plan's \(plan.layout.size)") }
        if library.capacity != plan.maxFlows { problems.append("the flow table holds \(library.capacity) entries, the plan \(plan.maxFlows)") }
        if !problems.isEmpty { throw NativeError.layoutMismatch(problems.joined(separator: "; ")) }
    }

    /// The flow table (one per loaded monitor; every call returns a view of the same table).
    public func flowTable() -> NativeFlowTable {
        NativeFlowTable(library: library)
    }

    /// Runs the entry program over one Ethernet frame at capture time `tstamp` (ns), as a test run
    /// of the kernel program does; returns the program's return value.
    @discardableResult
    public func run(frame: UnsafeRawBufferPointer, tstamp: UInt64) -> Int32 {
        library.run(frame.baseAddress, UInt32(frame.count), UInt32(frame.count), tstamp)
    }

    /// The failure counters (not IP, truncated, table full, ...), by counter.
    public func counters() throws -> [KernelCounter: UInt64] {
        try library.checkStatus()
        var values = [UInt64](repeating: 0, count: KernelCounter.allCases.count)
        let n = values.withUnsafeMutableBufferPointer { library.counters($0.baseAddress, UInt32($0.count)) }
        var out: [KernelCounter: UInt64] = [:]
        for counter in KernelCounter.allCases {
            out[counter] = counter.rawValue < Int(n) ? values[counter.rawValue] : 0
        }
        return out
    }
}
