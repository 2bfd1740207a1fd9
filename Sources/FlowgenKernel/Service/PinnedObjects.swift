import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Pins a loaded pipeline's programs and maps under an instance's pin directory (mode 0700), and
/// removes them again. Pinned, the programs keep counting and the flow table keeps its flows
/// after the process that loaded them is gone, however it ended; the tail-call array stays
/// filled too (the kernel empties a program array once no process or pin refers to it).
public enum PinnedObjects {
    /// Fails with a message that says what to mount when the pin root is not on a BPF filesystem.
    /// Also fails when the pin root, or the instance's pin directory, is one another user could change.
    public static func checkFilesystem(_ paths: InstancePaths) throws {
        guard BPFObjects.isOnBPFFilesystem(paths.pinRoot) else { throw InstanceError.notBPFFilesystem(paths.pinRoot) }
        try InstanceStore.checkPrivateIfPresent(paths.pinRoot)
        try InstanceStore.checkPrivateIfPresent(paths.pinDirectory)
    }

    /// Pins every program and map of `monitor` (libbpf's internal .rodata/.bss maps excepted: the
    /// programs hold them); returns the records for the state file, the entry program first.
    static func pin(_ monitor: LoadedMonitor, _ paths: InstancePaths) throws -> (programs: [InstanceState.Program], maps: [InstanceState.Map]) {
        try checkFilesystem(paths)
        if exist(paths) {
            throw InstanceError.stateUnreadable(path: paths.stateFile, reason: "it is missing, but \(paths.pinDirectory) holds pinned objects")
        }
        try InstanceStore.createDirectories(paths.pinRoot, paths.pinDirectory)
        do {
            var maps: [InstanceState.Map] = []
            for map in monitor.pipeline.maps where !map.name.contains(".") {
                let path = paths.mapPin(map.name)
                try BPFObjects.pin(map.fd, at: path)
                maps.append(InstanceState.Map(name: map.name, id: try BPFObjects.mapInfo(map.fd).id, pin: path))
            }
            let programs = try records(of: monitor, pin: { name, fd in
                let path = paths.programPin(name)
                try BPFObjects.pin(fd, at: path)
                return path
            })
            return (programs, maps)
        } catch {
            remove(paths)
            throw error
        }
    }

    /// Program and map records of an unpinned monitor (found later by id, while attached).
    static func unpinnedRecords(_ monitor: LoadedMonitor) throws -> (programs: [InstanceState.Program], maps: [InstanceState.Map]) {
        let maps = try monitor.pipeline.maps.filter { !$0.name.contains(".") }.map {
            InstanceState.Map(name: $0.name, id: try BPFObjects.mapInfo($0.fd).id, pin: nil)
        }
        return (try records(of: monitor, pin: { _, _ in nil }), maps)
    }

    private static func records(of monitor: LoadedMonitor, pin: (String, Int32) throws -> String?) throws -> [InstanceState.Program] {
        // stage order, entry first: the state's program list is also the stage split
        let rank = Dictionary(uniqueKeysWithValues: monitor.plan.stages.enumerated().map { ($0.element.program, $0.offset) })
        let ordered = monitor.pipeline.programs.sorted { (rank[$0.name] ?? Int.max, $0.name) < (rank[$1.name] ?? Int.max, $1.name) }
        return try ordered.map { program in
            let stage = monitor.plan.stages.first { $0.program == program.name }
            return InstanceState.Program(name: program.name, id: program.id, features: stage?.features ?? [],
                                         verifiedInstructions: Int(program.verifiedInstructions), pin: try pin(program.name, program.fd))
        }
    }

    /// Removes the instance's pin directory and everything pinned in it (fine if it is gone), and
    /// the pin root once no instance is left in it.
    public static func remove(_ paths: InstancePaths) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: paths.pinDirectory) {
            for entry in entries { unlink(paths.pinDirectory + "/" + entry) }
            rmdir(paths.pinDirectory)
        }
        rmdir(paths.pinRoot)
    }

    /// True when the instance has a pin directory.
    public static func exist(_ paths: InstancePaths) -> Bool {
        FileManager.default.fileExists(atPath: paths.pinDirectory)
    }
}
