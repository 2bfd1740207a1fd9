import Foundation
import FlowgenCore

/// `flowgen unload` and `flowgen purge`: remove what flowgen attached or pinned, checked against
/// the state files (a filter is detached only while it runs the program id flowgen recorded), and
/// nothing else.
public enum InstanceAdmin {
    /// Detaches flowgen's filters from `interface` (nil: every interface) of `instance` (nil: every
    /// instance) and records it, so a running collector does not attach there again. Programs and
    /// maps stay pinned (a collector can still export what they counted) until `purge`.
    /// Returns one line per filter.
    public static func unload(interface: String?, instance: String?) throws -> [String] {
        ManagedFilter.quietLibbpf()
        // with -a instances the name is recorded as excluded even where nothing matched it
        if let interface { try InterfaceName.validate(interface) }
        let names = instance.map { [$0] } ?? InstanceStore.names()
        if let instance, !FileManager.default.fileExists(atPath: try InstancePaths(name: instance).stateFile) {
            throw InstanceError.notFound(name: instance, known: InstanceStore.names())
        }
        var lines: [String] = []
        var matched = false
        for name in names {
            let paths = try InstancePaths(name: name)
            var removeStale = false
            try InstanceStore.update(paths) { state in
                let records = state.attachments.filter { interface == nil || $0.interface == interface }
                if let interface {
                    if state.allInterfaces {
                        if !state.excludedInterfaces.contains(interface) { state.excludedInterfaces.append(interface) }
                    } else {
                        state.interfaces.removeAll { $0 == interface }
                    }
                } else {
                    state.allInterfaces = false
                    state.interfaces = []
                }
                guard !records.isEmpty else { return }
                matched = true
                try checkNamespace(state, paths)
                let found = ManagedFilter.detach(records)
                for (record, presence) in zip(records, found) {
                    let hook = "\(record.interface) \(record.direction)"
                    switch presence {
                    case .ours:
                        lines.append("detached instance \(name) from \(hook) (program id \(record.programID))")
                    case let .replaced(id):
                        lines.append("left \(hook) alone: it runs program id \(id), not flowgen's \(record.programID)")
                    case .absent:
                        lines.append("\(hook): flowgen's filter of instance \(name) was already gone")
                    case .interfaceGone:
                        lines.append("\(record.interface) is gone: forgot instance \(name)'s filter there")
                    }
                }
                state.attachments.removeAll { record in records.contains(record) }
                removeStale = !state.pinned && state.attachments.isEmpty && !FileLock.isHeld(paths.collectorLockFile)
            }
            if removeStale { InstanceStore.remove(paths) }
        }
        if let interface, !matched { throw InstanceError.nothingAttached(interface) }
        if !matched { lines.append("flowgen has nothing attached") }
        return lines
    }

    /// Removes `instance` (nil: every instance) completely: detaches its filters, removes its pins
    /// (the maps and programs go with the last reference) and its state. Refuses while a collector
    /// holds it unless `force`. Returns one line per instance, saying how many flow directions were
    /// dropped unexported.
    public static func purge(instance: String?, force: Bool) throws -> [String] {
        ManagedFilter.quietLibbpf()
        let names = instance.map { [$0] } ?? InstanceStore.names()
        if let instance {
            let paths = try InstancePaths(name: instance)
            if !FileManager.default.fileExists(atPath: paths.stateDirectory) && !PinnedObjects.exist(paths) {
                throw InstanceError.notFound(name: instance, known: InstanceStore.names())
            }
        }
        var lines: [String] = []
        for name in names {
            let paths = try InstancePaths(name: name)
            let state = try? InstanceStore.read(paths)
            if FileLock.isHeld(paths.collectorLockFile) && !force {
                throw InstanceError.collectorRunning(name: name, pid: state?.collectorPID)
            }
            var dropped: Int?
            if let state {
                try checkNamespace(state, paths)
                dropped = (try? InstanceStatus.gather(paths: paths))?.tableEntries
                ManagedFilter.detach(state.attachments)
            }
            PinnedObjects.remove(paths)
            InstanceStore.remove(paths)
            var line = "purged instance \(name)"
            if let dropped, dropped > 0 { line += ": \(dropped) flow directions in its table were dropped without export" }
            lines.append(line)
        }
        if lines.isEmpty { lines.append("nothing to purge") }
        return lines
    }

    private static func checkNamespace(_ state: InstanceState, _ paths: InstancePaths) throws {
        guard !state.attachments.isEmpty else { return }
        if let here = AttachmentNamespace.currentIdentity(), here.inode != state.namespace.inode || here.device != state.namespace.device {
            throw InstanceError.otherNamespace(name: paths.name, inode: state.namespace.inode)
        }
    }
}
