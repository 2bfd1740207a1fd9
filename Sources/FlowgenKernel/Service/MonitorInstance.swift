import Logging
import Foundation
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// A monitor instance held by this process: its maps, its state file and the collector lock.
///
/// An instance is either loaded afresh (programs loaded, pinned when asked, attached, state file
/// written) or adopted from an earlier process (pinned objects opened and checked against the
/// decoder, attachments verified by program id). Either way the state file always says what is
/// attached where, so whatever ends this process, a later one can adopt or remove exactly that.
public final class MonitorInstance: @unchecked Sendable {
    /// Where the instance keeps pins and state.
    public let paths: InstancePaths
    /// The maps and entry program.
    public let maps: MonitorMaps
    /// The state as last written.
    public private(set) var state: InstanceState
    /// True when an earlier process loaded the programs.
    public let adopted: Bool
    private var lock: FileLock?
    private let log: Logger
    /// (interface, direction) pairs where someone else's filter blocks flowgen: not retried every scan.
    private var blocked = Set<String>()

    private init(paths: InstancePaths, maps: MonitorMaps, state: InstanceState, adopted: Bool, lock: FileLock,
                 log: Logger) {
        self.paths = paths
        self.maps = maps
        self.state = state
        self.adopted = adopted
        self.lock = lock
        self.log = log
    }

    // MARK: - Starting

    /// Starts the instance `request` names: adopts it when it is pinned already (same features
    /// required), otherwise calls `load` and loads it afresh; with `loadOnly` (`flowgen load`) an
    /// existing pinned instance is an error. A plain run's state left by a killed process is cleaned
    /// up first (its filters detached). On any failure nothing of this call stays attached or pinned.
    public static func start(_ request: InstanceRequest, plan: Plan, loadOnly: Bool = false,
                             load: () throws -> LoadedMonitor, log: Logger) throws -> MonitorInstance {
        ManagedFilter.quietLibbpf()
        // before the name derived from them is used, and before a NUL could cut one short in if_nametoindex
        for name in request.interfaces { try InterfaceName.validate(name) }
        let paths = try InstancePaths(name: request.instanceName)
        if request.pin { try PinnedObjects.checkFilesystem(paths) }
        let lock = try lockCollector(paths)
        do {
            if let existing = try InstanceStore.read(paths) {
                if !existing.pinned {
                    try cleanUpStale(existing, paths, log: log)
                } else {
                    guard request.pin else { throw InstanceError.pinnedInstanceExists(paths.name) }
                    guard !loadOnly else { throw InstanceError.alreadyLoaded(paths.name) }
                    let wanted = plan.features.map(\.name)
                    guard existing.featureNames == wanted else {
                        throw InstanceError.featuresDiffer(name: paths.name, pinned: existing.featureNames, requested: wanted)
                    }
                    if existing.maxFlows != plan.maxFlows {
                        log.warning("warning: instance \(paths.name) keeps its flow table of \(existing.maxFlows) directions (--max-flows \(plan.maxFlows) applies after `flowgen purge`)")
                    }
                    var state = existing
                    state.interfaces = request.interfaces
                    state.allInterfaces = request.allInterfaces
                    state.directions = request.directions.map(\.rawValue)
                    return try adopt(state, plan: staged(plan, like: existing), paths: paths, lock: lock, log: log)
                }
            } else if PinnedObjects.exist(paths) {
                throw InstanceError.stateUnreadable(path: paths.stateFile, reason: "it is missing, but \(paths.pinDirectory) holds pinned objects")
            }
            return try create(request, plan: plan, paths: paths, lock: lock, load: load, log: log)
        } catch {
            if (try? InstanceStore.read(paths)) == nil && !PinnedObjects.exist(paths) { InstanceStore.remove(paths) }
            lock.release()
            throw error
        }
    }

    /// Adopts a pinned instance for `flowgen collect`: `name` nil picks the only one. `plan` makes
    /// the plan from the state's own features (and feature paths); the pinned flow table is checked
    /// against its decoder.
    public static func adoptPinned(name: String?, plan: (InstanceState) throws -> Plan,
                                   log: Logger) throws -> MonitorInstance {
        ManagedFilter.quietLibbpf()
        let paths = try InstancePaths(name: name ?? soleInstance(pinnedOnly: true))
        guard FileManager.default.fileExists(atPath: paths.stateFile) else {
            throw InstanceError.notFound(name: paths.name, known: InstanceStore.names())
        }
        let lock = try lockCollector(paths)
        do {
            guard let state = try InstanceStore.read(paths) else { throw InstanceError.notFound(name: paths.name, known: InstanceStore.names()) }
            guard state.pinned else {
                // a plain run that was killed: nothing to collect (its tail-call array is gone), only to clean
                try cleanUpStale(state, paths, log: log)
                InstanceStore.remove(paths)
                throw InstanceError.notFound(name: paths.name, known: InstanceStore.names())
            }
            return try adopt(state, plan: staged(try plan(state), like: state), paths: paths, lock: lock, log: log)
        } catch {
            lock.release()
            throw error
        }
    }

    /// The name of the only instance (pinned ones only, if asked); errors when there are none or several.
    public static func soleInstance(pinnedOnly: Bool) throws -> String {
        var names: [String] = []
        for name in InstanceStore.names() {
            guard let paths = try? InstancePaths(name: name) else { continue }
            guard let state = try? InstanceStore.read(paths) else {
                if !pinnedOnly || PinnedObjects.exist(paths) { names.append(name) }
                continue
            }
            if !pinnedOnly || state.pinned { names.append(name) }
        }
        guard let first = names.first else { throw InstanceError.noInstances }
        guard names.count == 1 else { throw InstanceError.ambiguous(names) }
        return first
    }

    private static func lockCollector(_ paths: InstancePaths) throws -> FileLock {
        try InstanceStore.createDirectories(paths.stateRoot, paths.stateDirectory)
        // the pins this collector will open or create: nobody else may be able to move them
        try InstanceStore.checkPrivateIfPresent(paths.pinRoot)
        try InstanceStore.checkPrivateIfPresent(paths.pinDirectory)
        guard let lock = try FileLock.acquire(paths.collectorLockFile, wait: false) else {
            throw InstanceError.collectorRunning(name: paths.name, pid: (try? InstanceStore.read(paths))?.collectorPID)
        }
        return lock
    }

    /// The plan with the stage split the instance was loaded with.
    private static func staged(_ plan: Plan, like state: InstanceState) throws -> Plan {
        let stages = state.stagePrograms
        guard stages.count > 1 else { return plan }
        var split = try Planner().split(plan, into: stages.map(\.features))
        for index in split.stages.indices {
            split.stages[index].verifiedInstructions = stages.first { $0.name == split.stages[index].program }?.verifiedInstructions
        }
        return split
    }

    private static func create(_ request: InstanceRequest, plan: Plan, paths: InstancePaths, lock: FileLock,
                               load: () throws -> LoadedMonitor, log: Logger) throws -> MonitorInstance {
        guard let namespace = AttachmentNamespace.currentIdentity() else {
            throw KernelError.namespaceFailed(name: "current", reason: "/proc/thread-self/ns/net is not readable")
        }
        let monitor = try load()
        let objects = request.pin ? try PinnedObjects.pin(monitor, paths) : try PinnedObjects.unpinnedRecords(monitor)
        let state = InstanceState(
            instance: paths.name, flowgenVersion: FlowgenVersion.string, pinned: request.pin,
            loadedAt: Date().timeIntervalSince1970, collectorPID: getpid(), features: request.features,
            featureNames: monitor.plan.features.map(\.name), featurePaths: request.featurePaths,
            allowUnsafeFeaturePath: request.allowUnsafeFeaturePath, maxFlows: monitor.plan.maxFlows,
            recordSize: monitor.plan.layout.size, programs: objects.programs, maps: objects.maps,
            allInterfaces: request.allInterfaces, interfaces: request.interfaces,
            directions: request.directions.map(\.rawValue), attachments: [],
            namespace: InstanceState.Namespace(device: namespace.device, inode: namespace.inode))
        let instance: MonitorInstance
        do {
            try InstanceStore.write(state, plan: PlanDocument(plan: monitor.plan).json(), paths)
            instance = MonitorInstance(paths: paths, maps: try MonitorMaps(monitor: monitor), state: state, adopted: false,
                                       lock: lock, log: log)
        } catch {
            if request.pin { PinnedObjects.remove(paths) }
            InstanceStore.removeStateFiles(paths)
            throw error
        }
        do {
            try instance.syncInterfaces(strict: true)
        } catch {
            instance.removeFromKernel()
            throw error
        }
        return instance
    }

    private static func adopt(_ state: InstanceState, plan: Plan, paths: InstancePaths, lock: FileLock,
                              log: Logger) throws -> MonitorInstance {
        if let here = AttachmentNamespace.currentIdentity(), here.inode != state.namespace.inode || here.device != state.namespace.device {
            throw InstanceError.otherNamespace(name: paths.name, inode: state.namespace.inode)
        }
        let maps = try MonitorMaps(adopting: state, plan: plan)
        var adopted = state
        adopted.collectorPID = getpid()
        let instance = MonitorInstance(paths: paths, maps: maps, state: adopted, adopted: true, lock: lock, log: log)
        try InstanceStore.lockedWrite(paths) {
            // keep what unload/status wrote meanwhile, take over the request's interfaces
            var current = try InstanceStore.read(paths) ?? adopted
            current.collectorPID = getpid()
            current.interfaces = adopted.interfaces
            current.allInterfaces = adopted.allInterfaces
            current.directions = adopted.directions
            try InstanceStore.atomicWrite(current.json(), to: paths.stateFile)
            instance.state = current
        }
        try instance.syncInterfaces(strict: true)
        return instance
    }

    /// Detaches the filters a killed plain run left (only those still running its programs) and
    /// forgets its state.
    private static func cleanUpStale(_ state: InstanceState, _ paths: InstancePaths, log: Logger) throws {
        if let here = AttachmentNamespace.currentIdentity(), here.inode != state.namespace.inode || here.device != state.namespace.device {
            throw InstanceError.otherNamespace(name: paths.name, inode: state.namespace.inode)
        }
        let found = ManagedFilter.detach(state.attachments)
        let removed = zip(state.attachments, found).filter { $0.1 == .ours }.map { "\($0.0.interface) \($0.0.direction)" }
        if !removed.isEmpty {
            log.info("removed the filters a stopped flowgen run (pid \(state.collectorPID.map(String.init) ?? "?")) left on \(removed.joined(separator: ", "))")
        }
        InstanceStore.removeStateFiles(paths)
    }

    // MARK: - Interfaces

    /// Interfaces with at least one flowgen filter now.
    public var attachedInterfaces: [String] { Array(Set(state.attachments.map(\.interface))).sorted() }

    /// Brings the attachments in line with what the instance wants: every wanted interface (the `-i`
    /// ones present now, or with `-a` every interface but lo and those `flowgen unload` excluded) on
    /// every hook; filters on interfaces no longer wanted are detached; interfaces that vanished
    /// are forgotten. With `strict`, a failure to attach is thrown (start-up); otherwise logged
    /// once and retried when the interface reappears. Changes made by `flowgen unload` meanwhile
    /// are read from the state file first.
    @discardableResult
    public func syncInterfaces(strict: Bool) throws -> (attached: [String], forgotten: [String]) {
        var attached: [String] = [], forgotten: [String] = []
        let body = { [self] in
            if let fresh = try InstanceStore.read(paths) {
                state.attachments = fresh.attachments
                state.interfaces = fresh.interfaces
                state.allInterfaces = fresh.allInterfaces
                state.excludedInterfaces = fresh.excludedInterfaces
                state.lastFlowID = max(state.lastFlowID, fresh.lastFlowID)
            }
            let present = Set(TCAttachment.allInterfaces())
            let wanted = state.allInterfaces
                ? present.subtracting(["lo"]).subtracting(state.excludedInterfaces)
                : Set(state.interfaces).intersection(present)
            let directions = TCAttachment.Direction.allCases.filter { state.directions.contains($0.rawValue) }
            var keep: [InstanceState.Attachment] = [], unwanted: [InstanceState.Attachment] = []
            for record in state.attachments {
                switch ManagedFilter.presence(of: record) {
                case .ours:
                    if wanted.contains(record.interface) && state.directions.contains(record.direction) {
                        keep.append(record)
                    } else {
                        unwanted.append(record)
                    }
                case .interfaceGone:
                    if !forgotten.contains(record.interface) { forgotten.append(record.interface) }
                case .absent:
                    log.info("flowgen's filter on \(record.interface) \(record.direction) was removed by someone else")
                case let .replaced(programID):
                    let key = record.interface + " " + record.direction
                    if blocked.insert(key).inserted {
                        log.warning("warning: \(key) now runs BPF program id \(programID) at flowgen's handle and priority: left alone")
                    }
                }
            }
            // recorded as they change, so a failure part-way leaves a state that names every filter
            state.attachments = keep
            if !unwanted.isEmpty {
                ManagedFilter.detach(unwanted)
                log.info("detached from \(Set(unwanted.map(\.interface)).sorted().joined(separator: ", ")) (no longer monitored)")
            }
            for name in wanted.sorted() {
                var added = false
                for direction in directions where !keep.contains(where: { $0.interface == name && $0.direction == direction.rawValue }) {
                    let key = name + " " + direction.rawValue
                    guard !blocked.contains(key) else { continue }
                    do {
                        if let links = maps.links {
                            try links.mark(interface: name, ifindex: Int32(bitPattern: if_nametoindex(name)))
                        }
                        var record = try ManagedFilter.attach(interface: name, direction: direction, programFD: maps.entryFD)
                        // the qdisc one hook's attach created is also the other hook's
                        if keep.contains(where: { $0.ifindex == record.ifindex && $0.createdQdisc }) { record.createdQdisc = true }
                        keep.append(record)
                        state.attachments.append(record)
                        added = true
                    } catch {
                        if strict { throw error }
                        blocked.insert(key)
                        log.warning("warning: cannot attach to \(key): \(error)")
                    }
                }
                if added { attached.append(name) }
            }
            try InstanceStore.atomicWrite(state.json(), to: paths.stateFile)
        }
        do {
            try InstanceStore.lockedWrite(paths, body)
        } catch {
            // persist what was attached before the failure, so it can be removed
            _ = try? InstanceStore.lockedWrite(paths) { try InstanceStore.atomicWrite(state.json(), to: paths.stateFile) }
            throw error
        }
        for name in forgotten { log.info("\(name) is gone: forgotten") }
        if !attached.isEmpty {
            log.info("attached to \(attached.joined(separator: ", ")) (\(state.directions.joined(separator: "+")))")
        }
        return (attached, forgotten)
    }

    /// Detaches every filter of the instance (ours only) and records that nothing is attached.
    public func detachAll() {
        _ = try? InstanceStore.lockedWrite(paths) {
            if let fresh = try InstanceStore.read(paths) { state.attachments = fresh.attachments }
            ManagedFilter.detach(state.attachments)
            state.attachments = []
            try InstanceStore.atomicWrite(state.json(), to: paths.stateFile)
        }
        if !state.attachments.isEmpty {
            ManagedFilter.detach(state.attachments)
            state.attachments = []
        }
    }

    /// Records the last FLOW_ID exported, so a restarted collector continues the numbering.
    public func recordLastFlowID(_ id: UInt64) {
        guard id > state.lastFlowID else { return }
        state.lastFlowID = id
        _ = try? InstanceStore.update(paths) { $0.lastFlowID = max($0.lastFlowID, id) }
    }

    // MARK: - Ending

    /// Removes everything of the instance from the kernel and disk: filters, pins, state. The maps
    /// and programs go once this process closes its fds.
    public func removeFromKernel() {
        detachAll()
        if state.pinned { PinnedObjects.remove(paths) }
        InstanceStore.remove(paths)
        lock?.release()
        lock = nil
    }

    /// Leaves the instance to a later collector: the state no longer names this process.
    public func release() {
        _ = try? InstanceStore.update(paths) { $0.collectorPID = nil }
        lock?.release()
        lock = nil
    }
}
