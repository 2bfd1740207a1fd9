import CLibBPF
import Foundation
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// What a collector needs of a running monitor: the plan its records follow, the flow table, the
/// counters and the entry program (to attach it to more interfaces). It comes either from a
/// pipeline this process loaded, or from the pinned objects (or ids) of an instance loaded by an
/// earlier process, checked against the decoder before any record is read.
public final class MonitorMaps: @unchecked Sendable {
    /// The plan (layout, features, stages) the records are decoded with.
    public let plan: Plan
    /// The kernel flow table.
    public let flowTable: FlowTable
    /// The per-CPU failure counters.
    public let counters: PerCPUCounters
    /// The entry program's fd.
    public let entryFD: Int32
    /// The flow table's capacity in directions.
    public let capacity: Int
    /// The maps that tell the program which devices have no Ethernet header (nil for a monitor
    /// loaded by a flowgen without them).
    public let links: LinkLayer.Maps?
    /// The kernel collector pass (flows end in the kernel, no packet lost), nil when the monitor
    /// was loaded without it (a kernel before 5.13, or a flowgen without it): the collector then
    /// reads and removes flows from userland.
    public let kernelPass: KernelFlowPass?
    /// The loaded pipeline, when this process loaded it (it owns the fds above).
    public let loaded: LoadedMonitor?
    private var owned: [Int32]

    /// The maps of a pipeline loaded by this process.
    public init(monitor: LoadedMonitor) throws {
        plan = monitor.plan
        flowTable = try monitor.flowTable()
        counters = try PerCPUCounters(pipeline: monitor.pipeline, map: "fg_counters")
        entryFD = monitor.entryFD
        capacity = Int(try monitor.pipeline.mapInfo("fg_flows").maxEntries)
        let words = try monitor.pipeline.mapInfo("fg_links")
        links = LinkLayer.Maps(words: words.fd, wordCount: words.maxEntries, far: try monitor.pipeline.mapFD("fg_links_far"))
        kernelPass = try monitor.kernelPass()
        loaded = monitor
        owned = []
    }

    /// Opens the objects of an instance loaded by another process (by pin, or by id while the
    /// programs are attached) and checks that `plan`'s decoder reads its flow table: key and
    /// record size and, from the BTF the kernel keeps for the map, every field's offset and size.
    public init(adopting state: InstanceState, plan: Plan) throws {
        var opened: [Int32] = []
        func open(map name: String) throws -> Int32 {
            guard let record = state.map(name) else {
                throw InstanceError.stateUnreadable(path: state.instance, reason: "it names no map \(name)")
            }
            let fd = try record.pin.map { try BPFObjects.openPinned($0) } ?? BPFObjects.openMap(id: record.id)
            guard let fd else { throw InstanceError.pinMissing(name: state.instance, path: record.pin ?? "map id \(record.id)") }
            opened.append(fd)
            guard try BPFObjects.mapInfo(fd).id == record.id else {
                throw InstanceError.pinMissing(name: state.instance, path: (record.pin ?? name) + " (it now holds another map)")
            }
            return fd
        }
        do {
            let flowsFD = try open(map: "fg_flows")
            let countersFD = try open(map: "fg_counters")
            guard let entry = state.entryProgram else {
                throw InstanceError.stateUnreadable(path: state.instance, reason: "it names no program")
            }
            let entryFD = try entry.pin.map { try BPFObjects.openPinned($0) } ?? BPFObjects.openProgram(id: entry.id)
            guard let entryFD else { throw InstanceError.pinMissing(name: state.instance, path: entry.pin ?? "program id \(entry.id)") }
            opened.append(entryFD)

            let flowsInfo = try BPFObjects.mapInfo(flowsFD)
            try Self.checkLayout(flowsInfo, decoder: RecordDecoder(plan: plan), instance: state.instance)
            let countersInfo = try BPFObjects.mapInfo(countersFD)
            if state.map("fg_links") != nil && state.map("fg_links_far") != nil {
                let wordsFD = try open(map: "fg_links")
                links = LinkLayer.Maps(words: wordsFD, wordCount: try BPFObjects.mapInfo(wordsFD).max_entries,
                                       far: try open(map: "fg_links_far"))
            } else {
                links = nil
            }
            if let program = state.programs.first(where: { $0.name == KernelFlowPass.programName }),
               state.map(KernelFlowPass.configMap) != nil, state.map(KernelFlowPass.ringMap) != nil {
                let programFD = try program.pin.map { try BPFObjects.openPinned($0) } ?? BPFObjects.openProgram(id: program.id)
                guard let programFD else { throw InstanceError.pinMissing(name: state.instance, path: program.pin ?? "program id \(program.id)") }
                opened.append(programFD)
                kernelPass = try KernelFlowPass(programFD: programFD, configFD: try open(map: KernelFlowPass.configMap),
                                                ringFD: try open(map: KernelFlowPass.ringMap),
                                                keySize: Int(flowsInfo.key_size), valueSize: Int(flowsInfo.value_size))
            } else {
                kernelPass = nil
            }
            self.plan = plan
            self.flowTable = FlowTable(fd: flowsFD, keySize: Int(flowsInfo.key_size), valueSize: Int(flowsInfo.value_size),
                                       maxEntries: Int(flowsInfo.max_entries), name: "fg_flows")
            self.counters = try PerCPUCounters(fd: countersFD, entries: Int(countersInfo.max_entries), name: "fg_counters")
            self.entryFD = entryFD
            self.capacity = Int(flowsInfo.max_entries)
            self.loaded = nil
            self.owned = opened
        } catch {
            opened.forEach { Glibc.close($0) }
            throw error
        }
    }

    deinit { close() }

    /// Closes the fds this value opened (a loaded pipeline is closed by its owner).
    public func close() {
        owned.forEach { Glibc.close($0) }
        owned.removeAll()
    }

    /// Directions in the flow table now.
    public func entries() throws -> Int { try flowTable.count() }

    /// Fails with `InstanceError.layoutMismatch` unless the map's key is a flow key and its value
    /// is `struct fg_record` exactly as the decoder expects it.
    static func checkLayout(_ info: bpf_map_info, decoder: RecordDecoder, instance: String) throws {
        var problems: [String] = []
        let keySize = FlowKey.byteSize(defines: decoder.plan.defines)
        if Int(info.key_size) != keySize {
            problems.append("its key is \(info.key_size) bytes, a flow key of these features is \(keySize)")
        }
        if Int(info.value_size) != decoder.recordSize {
            problems.append("its records are \(info.value_size) bytes, the features give \(decoder.recordSize)")
        }
        if let record = try BPFObjects.btfStruct(ofMap: info, named: "fg_record") {
            let members = record.members.map { (name: $0.name, offset: $0.byteOffset, size: $0.byteSize) }
            for problem in decoder.mismatches(btfSize: record.size, members: members) where !problems.contains(problem) {
                problems.append(problem.replacingOccurrences(of: "in the object", with: "in the pinned table")
                    .replacingOccurrences(of: "object has", with: "pinned table has")
                    .replacingOccurrences(of: "from the object's", with: "from the pinned table's"))
            }
        } else {
            problems.append("the map carries no BTF to check its record layout against")
        }
        if !problems.isEmpty { throw InstanceError.layoutMismatch(name: instance, problems: problems) }
    }
}
