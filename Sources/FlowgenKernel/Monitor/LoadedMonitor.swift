import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// A verified, loaded monitor: the pipeline, its plan (with verifier counts) and its flow table.
public final class LoadedMonitor {
    /// The plan, with each stage's `verifiedInstructions` filled in.
    public private(set) var plan: Plan
    /// The compiled object it came from.
    public let object: CompiledObject
    /// The libbpf object that owns programs and maps.
    public let pipeline: LoadedObject

    /// Loads `object` and checks it against `plan`.
    public init(plan: Plan, object: CompiledObject, replay: Bool = false, verbose: Bool = false) throws {
        self.object = object
        var rodata: [String: UInt64] = [:]
        if replay { rodata["fg_cfg_replay"] = 1 } else if Self.kernelReadsTstampType { rodata["fg_cfg_stamps"] = 1 }
        pipeline = try LoadedObject(objectPath: object.objectPath, entryProgram: plan.entryProgram,
                                      mapSizes: ["fg_flows": UInt32(plan.maxFlows)],
                                      rodata: rodata,
                                      leavingOut: KernelFlowPass.kernelSupports ? [] : [KernelFlowPass.programName, KernelFlowPass.configMap, KernelFlowPass.ringMap],
                                      verbose: verbose)
        var checked = plan
        for i in checked.stages.indices {
            checked.stages[i].verifiedInstructions = pipeline.programs.first { $0.name == checked.stages[i].program }
                .map { Int($0.verifiedInstructions) }
        }
        self.plan = checked
        try checkLayout()
    }

    /// Whether TC programs of the running kernel may read `__sk_buff.tstamp_type` (Linux 5.18+), so
    /// that the precise clock takes a packet's CLOCK_MONOTONIC stamp instead of the helper
    /// (`fg_cfg_stamps`, flowgen.h). An older kernel's verifier would refuse the read.
    static let kernelReadsTstampType: Bool = {
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return false }
        return (numbers[0], numbers[1]) >= (5, 18)
    }()

    /// Fails when the object's `struct fg_record` / `fg_flow_key` differ from what the decoder expects.
    func checkLayout() throws {
        let record = try pipeline.btfStruct(named: "fg_record")
        let members = record.members.map { (name: $0.name, offset: $0.byteOffset, size: $0.byteSize) }
        var problems = RecordDecoder(plan: plan).mismatches(btfSize: record.size, members: members)
        let key = try pipeline.btfStruct(named: "fg_flow_key")
        let keySize = FlowKey.byteSize(defines: plan.defines)
        if key.size != keySize { problems.append("struct fg_flow_key is \(key.size) bytes in the object, \(keySize) expected") }
        if !problems.isEmpty { throw MonitorError.layoutMismatch(problems) }
    }

    /// The kernel collector pass, nil when this kernel lacks what it needs (the collector then
    /// reads the table from userland).
    public func kernelPass() throws -> KernelFlowPass? {
        guard let program = pipeline.programs.first(where: { $0.name == KernelFlowPass.programName }),
              let config = try? pipeline.mapFD(KernelFlowPass.configMap), let ring = try? pipeline.mapFD(KernelFlowPass.ringMap) else { return nil }
        let flows = try pipeline.mapInfo("fg_flows")
        return try KernelFlowPass(programFD: program.fd, configFD: config, ringFD: ring, keySize: Int(flows.keySize), valueSize: Int(flows.valueSize))
    }

    /// File descriptor of the entry program.
    public var entryFD: Int32 { pipeline.entryFD }

    /// The flow table.
    public func flowTable() throws -> FlowTable {
        try FlowTable(pipeline: pipeline, map: "fg_flows")
    }

    /// Failure counters summed over CPUs, by counter.
    public func counters() throws -> [KernelCounter: UInt64] {
        try PerCPUCounters(pipeline: pipeline, map: "fg_counters").kernelCounters()
    }
}
