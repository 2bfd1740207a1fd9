import Foundation
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// What `flowgen status` reports for one instance: its state, whether a collector holds it, what
/// each recorded filter is now, flows in the table and the kernel counters.
public struct InstanceStatus: Sendable {
    /// The instance name.
    public var name: String
    /// The state file, nil when it is missing (pins without state).
    public var state: InstanceState?
    /// A collector process holds the instance now.
    public var collectorRunning: Bool
    /// Each recorded attachment and what sits there now (nil when not checked: other namespace).
    public var attachments: [(record: InstanceState.Attachment, presence: ManagedFilter.Presence?)]
    /// Directions in the flow table (nil when the table cannot be opened).
    public var tableEntries: Int?
    /// Kernel counters summed over CPUs (nil when the map cannot be opened).
    public var counters: [KernelCounter: UInt64]?
    /// Why something could not be read, if anything.
    public var problems: [String]
    /// The `ip netns` name of the network namespace it was attached in, nil when it has none.
    public var namespaceName: String? = nil

    /// The status of `name`, or of every instance when nil.
    public static func gather(name: String?) throws -> [InstanceStatus] {
        ManagedFilter.quietLibbpf()
        if let name { return [try gather(paths: InstancePaths(name: name))] }
        // every instance; a directory left without state or pins is nothing to report
        return InstanceStore.names().compactMap { try? gather(paths: InstancePaths(name: $0)) }
    }

    /// The status of one instance.
    public static func gather(paths: InstancePaths) throws -> InstanceStatus {
        var status = InstanceStatus(name: paths.name, state: nil, collectorRunning: FileLock.isHeld(paths.collectorLockFile),
                                    attachments: [], tableEntries: nil, counters: nil, problems: [])
        let state: InstanceState
        do {
            guard let read = try InstanceStore.read(paths) else {
                if !PinnedObjects.exist(paths) { throw InstanceError.notFound(name: paths.name, known: InstanceStore.names()) }
                status.problems.append("pinned objects in \(paths.pinDirectory) without a state file: remove them with `flowgen purge --instance \(paths.name)`")
                return status
            }
            state = read
        } catch let error as InstanceError {
            if case .notFound = error { throw error }
            status.problems.append("\(error)")
            return status
        }
        status.state = state
        let here = AttachmentNamespace.currentIdentity()
        let sameNamespace = here.map { $0.inode == state.namespace.inode && $0.device == state.namespace.device } ?? false
        let namespaceName = InstancePaths.namespaceName(device: state.namespace.device, inode: state.namespace.inode)
        status.namespaceName = namespaceName
        if !sameNamespace && !state.attachments.isEmpty {
            if let namespaceName {
                status.problems.append("attached in network namespace '\(namespaceName)': check its filters with `nsenter --net=/var/run/netns/\(namespaceName) flowgen status`")
            } else {
                status.problems.append("attached in another network namespace (inode \(state.namespace.inode), not named in /var/run/netns): run status there to check the filters")
            }
        }
        status.attachments = state.attachments.map { ($0, sameNamespace ? ManagedFilter.presence(of: $0) : nil) }
        if !status.collectorRunning && !state.pinned {
            status.problems.append("its collector (pid \(state.collectorPID.map(String.init) ?? "?")) is gone and nothing is pinned: remove what it left with `flowgen unload --instance \(paths.name) -a`")
        }
        // `ip netns exec` mounts a fresh /sys without the BPF filesystem: the pins are still there,
        // only hidden from this process, so say that rather than report the maps as gone
        if let pin = state.map("fg_flows")?.pin, !BPFObjects.isOnBPFFilesystem(pin) {
            let advice = namespaceName.map { "use nsenter --net=/var/run/netns/\($0) flowgen status" }
                ?? "use nsenter --net=/var/run/netns/NAME flowgen status (NAME: its namespace), or run status outside ip netns exec"
            status.problems.append("the BPF filesystem is not mounted here (ip netns exec hides it), so the pinned maps cannot be read: \(advice)")
            return status
        }
        do {
            if let (fd, shape) = try openMap("fg_flows", of: state, problems: &status.problems) {
                defer { Glibc.close(fd) }
                status.tableEntries = try FlowTable(fd: fd, keySize: shape.keySize, valueSize: shape.valueSize).count()
            }
            if let (fd, shape) = try openMap("fg_counters", of: state, problems: &status.problems) {
                defer { Glibc.close(fd) }
                status.counters = try PerCPUCounters(fd: fd, entries: shape.maxEntries).kernelCounters()
            }
        } catch {
            status.problems.append("\(error)")
        }
        return status
    }

    /// Opens a map of the instance by pin or id; nil (with a problem noted) when it is gone.
    private static func openMap(_ name: String, of state: InstanceState, problems: inout [String]) throws -> (Int32, BPFObjects.MapShape)? {
        guard let record = state.map(name) else { return nil }
        let fd = try record.pin.map { try BPFObjects.openPinned($0) } ?? BPFObjects.openMap(id: record.id)
        guard let fd else {
            problems.append("map \(name) is gone" + (record.pin.map { " (pin \($0) missing)" } ?? ""))
            return nil
        }
        let shape = try BPFObjects.shape(fd)
        guard shape.id == record.id else {
            Glibc.close(fd)
            problems.append("map \(name): id \(record.id) is gone")
            return nil
        }
        return (fd, shape)
    }

    /// Where the instance's flows end: "kernel" when it was loaded with the kernel collector pass,
    /// "userland" when without (its kernel lacked what the pass needs).
    static func endPath(_ state: InstanceState) -> String {
        state.programs.contains { $0.name == KernelFlowPass.programName } && state.map(KernelFlowPass.ringMap) != nil ? "kernel" : "userland"
    }

    /// A JSON-serialisable dictionary (`flowgen status --json`).
    public var object: [String: Any] {
        var out: [String: Any] = ["instance": name, "collector_running": collectorRunning, "problems": problems]
        if let state {
            out["pinned"] = state.pinned
            out["pin_directory"] = state.pinned ? (try? InstancePaths(name: name).pinDirectory) ?? NSNull() : NSNull()
            out["flowgen_version"] = state.flowgenVersion
            out["loaded_at"] = state.loadedAt
            out["collector_pid"] = state.collectorPID.map { Int($0) as Any } ?? NSNull()
            out["features"] = state.featureNames
            out["max_flows"] = state.maxFlows
            out["record_size"] = state.recordSize
            out["all_interfaces"] = state.allInterfaces
            out["interfaces"] = state.interfaces
            out["excluded_interfaces"] = state.excludedInterfaces
            out["directions"] = state.directions
            out["last_flow_id"] = state.lastFlowID
            out["flows_end_in"] = Self.endPath(state)
            out["network_namespace"] = namespaceName ?? NSNull()
            out["programs"] = state.programs.map { p -> [String: Any] in
                ["name": p.name, "id": Int(p.id), "features": p.features,
                 "verified_insns": p.verifiedInstructions.map { $0 as Any } ?? NSNull(), "pin": p.pin ?? NSNull()]
            }
            out["maps"] = state.maps.map { ["name": $0.name, "id": Int($0.id), "pin": $0.pin ?? NSNull()] as [String: Any] }
        }
        out["attachments"] = attachments.map { entry -> [String: Any] in
            ["interface": entry.record.interface, "ifindex": Int(entry.record.ifindex), "direction": entry.record.direction,
             "handle": Int(entry.record.handle), "priority": Int(entry.record.priority), "program_id": Int(entry.record.programID),
             "created_qdisc": entry.record.createdQdisc, "status": entry.presence.map(Self.describe) ?? "not checked"]
        }
        out["flows_in_table"] = tableEntries.map { $0 as Any } ?? NSNull()
        if let counters {
            out["kernel_counters"] = Dictionary(uniqueKeysWithValues: counters.map { ($0.key.jsonName, Int($0.value)) })
        } else {
            out["kernel_counters"] = NSNull()
        }
        return out
    }

    /// Human-readable lines.
    public var text: String {
        var lines: [String] = []
        guard let state else {
            return (["instance \(name): no state"] + problems.map { "  problem: \($0)" }).joined(separator: "\n") + "\n"
        }
        let collector = collectorRunning ? "collector running (pid \(state.collectorPID.map(String.init) ?? "?"))" : "no collector"
        lines.append("instance \(name): \(state.pinned ? "pinned" : "not pinned"), \(collector)")
        lines.append("  features: \(state.featureNames.joined(separator: ","))")
        lines.append(Self.endPath(state) == "kernel"
            ? "  flows end in: the kernel (pass program \(KernelFlowPass.programName): no packet lost between reading and removing a flow)"
            : "  flows end in: userland (loaded without the kernel pass: it needs BPF ring buffers and bpf_for_each_map_elem, Linux 5.13)")
        lines.append("  programs: " + state.programs.map { "\($0.name) (id \($0.id)\($0.verifiedInstructions.map { ", \($0) insns" } ?? ""))" }.joined(separator: ", "))
        if state.pinned, let paths = try? InstancePaths(name: name) { lines.append("  pinned in: \(paths.pinDirectory)") }
        let wanted = state.allInterfaces ? "all but lo" + (state.excludedInterfaces.isEmpty ? "" : " and \(state.excludedInterfaces.joined(separator: ", "))")
                                         : (state.interfaces.isEmpty ? "none" : state.interfaces.joined(separator: ", "))
        lines.append("  interfaces: \(wanted) (\(state.directions.joined(separator: "+")))"
                     + (namespaceName.map { " in network namespace '\($0)'" } ?? ""))
        if attachments.isEmpty { lines.append("  attached: nothing") }
        for entry in attachments {
            let r = entry.record
            lines.append("  attached: \(r.interface) \(r.direction) handle 0x\(String(r.handle, radix: 16)) pref \(r.priority) program id \(r.programID): \(entry.presence.map(Self.describe) ?? "not checked")")
        }
        if let tableEntries {
            let percent = state.maxFlows > 0 ? Double(tableEntries) * 100 / Double(state.maxFlows) : 0
            lines.append("  flows in table: \(tableEntries) of \(state.maxFlows) directions (" + String(format: "%.1f", percent) + "%)")
        }
        if let counters {
            let nonzero = counters.filter { $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
            lines.append("  kernel counters: " + (nonzero.isEmpty ? "all zero" : nonzero.map { "\($0.key.jsonName)=\($0.value)" }.joined(separator: " ")))
        }
        lines += problems.map { "  problem: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    static func describe(_ presence: ManagedFilter.Presence) -> String {
        switch presence {
        case .ours: return "attached"
        case let .replaced(id): return "replaced by program id \(id)"
        case .absent: return "gone"
        case .interfaceGone: return "interface gone"
        }
    }
}
