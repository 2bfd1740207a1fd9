import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// tc filters that outlive the process that attached them, described by `InstanceState.Attachment`
/// records. Unlike `TCAttachment`, nothing is detached when a value goes away: a later process
/// (a restarted collector, `flowgen unload`, `purge`) detaches by the record, and only a filter
/// that still runs the recorded program id, so a filter someone put there since is left alone.
public enum ManagedFilter {
    /// What sits where a record says flowgen attached.
    public enum Presence: Equatable, Sendable {
        /// The recorded program is attached.
        case ours
        /// Another program sits at flowgen's handle and priority.
        case replaced(programID: UInt32)
        /// Nothing is attached there any more.
        case absent
        /// The interface is gone (deleted, or a new device took the name).
        case interfaceGone
    }

    /// Attaches `programFD` at `direction` of `interface` (calling thread's namespace), creating the
    /// clsact qdisc when missing; refuses to replace a filter at the same handle and priority.
    public static func attach(interface: String, direction: TCAttachment.Direction, programFD: Int32,
                              handle: UInt32 = TCAttachment.defaultHandle,
                              priority: UInt32 = TCAttachment.defaultPriority) throws -> InstanceState.Attachment {
        let index = if_nametoindex(interface)
        guard index != 0 else { throw KernelError.interfaceNotFound(interface) }
        let ifindex = Int32(index)
        let programID = try BPFObjects.programID(programFD)
        let hook = fg_tc_hook_create(ifindex)
        if hook < 0 && hook != -EEXIST {
            throw KernelError.systemCall(operation: "creating the clsact qdisc on \(interface)", code: -hook)
        }
        let created = hook == 0
        let rc = fg_tc_attach(ifindex, direction.isEgress, programFD, handle, priority)
        if rc < 0 {
            if created { removeQdiscIfUnused(ifindex) }
            if -rc == EEXIST {
                var other: UInt32 = 0
                _ = fg_tc_query(ifindex, direction.isEgress, handle, priority, &other)
                throw InstanceError.filterTaken(interface: interface, direction: direction.rawValue,
                                                owner: other == 0 ? "not a BPF program" : "BPF program id \(other)")
            }
            throw KernelError.systemCall(operation: "attaching to \(interface) \(direction.rawValue)", code: -rc)
        }
        return InstanceState.Attachment(interface: interface, ifindex: ifindex, direction: direction.rawValue, handle: handle,
                                        priority: priority, programID: programID, createdQdisc: created)
    }

    /// What is attached where `record` says (in the calling thread's namespace).
    public static func presence(of record: InstanceState.Attachment) -> Presence {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: record.ifindex), &buffer) != nil,
              String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == record.interface
        else { return .interfaceGone }
        var programID: UInt32 = 0
        let rc = fg_tc_query(record.ifindex, record.direction == "egress" ? 1 : 0, record.handle, record.priority, &programID)
        if rc == -ENODEV { return .interfaceGone }
        if rc < 0 { return .absent }
        return programID == record.programID ? .ours : .replaced(programID: programID)
    }

    /// Detaches the filters of `records` that still run their recorded program, then removes the
    /// clsact qdisc of each interface where flowgen created it and no filter of anyone is left.
    /// Returns what was found for each record, in order.
    @discardableResult
    public static func detach(_ records: [InstanceState.Attachment]) -> [Presence] {
        var found: [Presence] = []
        for record in records {
            let presence = presence(of: record)
            if presence == .ours {
                _ = fg_tc_detach(record.ifindex, record.direction == "egress" ? 1 : 0, record.handle, record.priority)
            }
            found.append(presence)
        }
        var created = Set<Int32>()
        for (record, presence) in zip(records, found) where record.createdQdisc && presence != .interfaceGone {
            created.insert(record.ifindex)
        }
        for ifindex in created.sorted() { removeQdiscIfUnused(ifindex) }
        return found
    }

    /// Stops libbpf from printing the kernel's extack text ("Parent Qdisc doesn't exists") when a
    /// query finds nothing: for flowgen that is an answer, not an error. Loading a pipeline sets
    /// libbpf's printer again as `--verbose` asks.
    public static func quietLibbpf() {
        fg_libbpf_set_verbose(0)
    }

    /// Removes the clsact qdisc of `ifindex` when no filter is left on either hook.
    static func removeQdiscIfUnused(_ ifindex: Int32) {
        let ingress = fg_tc_list(ifindex, 0, nil, 0)
        let egress = fg_tc_list(ifindex, 1, nil, 0)
        guard ingress == 0, egress == 0 else { return }
        _ = fg_tc_hook_destroy(ifindex)
    }
}
