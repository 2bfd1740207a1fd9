import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A BPF object loaded into the kernel: owns the libbpf `bpf_object` and with it every program and map fd.
///
/// `close()` (or deinit) releases them. Filters already attached with `TCAttachment` keep their
/// program alive in the kernel, so closing the pipeline does not stop monitoring; detaching does.
/// Reading properties and maps from several threads is fine; `close()` must not race with other use.
public final class LoadedObject: @unchecked Sendable {
    /// Bytes of verifier log kept per program: enough for the complete log of a large rejected program.
    public static let verifierLogSize = 16 << 20

    /// Path of the object file that was loaded.
    public let objectPath: String
    /// Name of the program userland attaches.
    public let entryProgram: String
    /// File descriptor of the entry program.
    public let entryFD: Int32
    /// Every program of the object, in object order, with the kernel's statistics.
    public let programs: [ProgramHandle]
    /// Every map of the object (including libbpf's internal `.rodata`/`.bss` maps).
    public let maps: [MapInfo]

    private let lock = NSLock()
    private var object: OpaquePointer?

    /// Opens and loads `objectPath`: applies `mapSizes` (max_entries by map name) and `rodata`
    /// (`const volatile` integer globals by name) before load, and gives every program its own log
    /// buffer so a rejection reports the verifier's reasoning for the program that failed.
    /// `leavingOut` names programs not to load and maps not to create (what this kernel lacks
    /// the means for); the object must not need them otherwise.
    public init(objectPath: String, entryProgram: String, mapSizes: [String: UInt32] = [:],
                rodata: [String: UInt64] = [:], leavingOut: Set<String> = [], verbose: Bool = false) throws {
        try Self.requirePrivileges()
        // Kernels since 5.11 charge BPF memory to the cgroup; before that this limit made big maps fail with EPERM.
        _ = fg_raise_memlock()
        fg_libbpf_set_verbose(verbose ? 1 : 0)

        self.objectPath = objectPath
        self.entryProgram = entryProgram

        let objectLogSize = 1 << 20
        let objectLog = UnsafeMutablePointer<CChar>.allocate(capacity: objectLogSize)
        objectLog[0] = 0
        defer { objectLog.deallocate() }
        guard let opened = fg_object_open(objectPath, objectLog, objectLogSize) else {
            throw KernelError.objectOpenFailed(path: objectPath, code: errno)
        }
        var loaded = false
        defer { if !loaded { bpf_object__close(opened) } }

        let mapPointers = Self.maps(of: opened)
        for (name, size) in mapSizes.sorted(by: { $0.key < $1.key }) {
            guard let map = bpf_object__find_map_by_name(opened, name) else {
                throw KernelError.mapNotFound(name: name, available: mapPointers.map { Self.name(of: $0) })
            }
            let rc = bpf_map__set_max_entries(map, size)
            if rc < 0 { throw KernelError.systemCall(operation: "setting max_entries of map \(name) to \(size)", code: -rc) }
        }
        if !rodata.isEmpty { try Self.applyRodata(rodata, to: opened, maps: mapPointers) }

        let programPointers = Self.programs(of: opened)
        for program in programPointers where leavingOut.contains(String(cString: bpf_program__name(program))) {
            _ = bpf_program__set_autoload(program, false)
        }
        for map in mapPointers where leavingOut.contains(Self.name(of: map)) {
            _ = bpf_map__set_autocreate(map, false)
        }
        guard programPointers.contains(where: { String(cString: bpf_program__name($0)) == entryProgram }) else {
            throw KernelError.programNotFound(name: entryProgram,
                                              available: programPointers.map { String(cString: bpf_program__name($0)) })
        }
        // libbpf 1.1 loads with log level 0 and, on failure, retries at level 1 into the program's own
        // buffer, so successful loads pay nothing for the log and failures get the verifier's reasoning.
        var logs: [UnsafeMutablePointer<CChar>] = []
        defer { logs.forEach { $0.deallocate() } }
        for program in programPointers {
            let log = UnsafeMutablePointer<CChar>.allocate(capacity: Self.verifierLogSize)
            log[0] = 0
            logs.append(log)
            _ = bpf_program__set_log_buf(program, log, Self.verifierLogSize)
        }

        let rc = bpf_object__load(opened)
        if rc < 0 {
            for (program, log) in zip(programPointers, logs)
            where bpf_program__autoload(program) && bpf_program__fd(program) < 0 && log[0] != 0 {
                throw KernelError.verifierRejected(program: String(cString: bpf_program__name(program)),
                                                   log: String(cString: log))
            }
            var context = String(cString: objectLog)
            if !verbose { context += (context.isEmpty ? "" : "\n") + "(rerun with --verbose for libbpf's own messages)" }
            throw KernelError.loadFailed(object: objectPath, code: -rc, log: context)
        }

        var handles: [ProgramHandle] = []
        var entry: Int32 = -1
        for program in programPointers where bpf_program__fd(program) >= 0 {
            let fd = bpf_program__fd(program)
            var info = bpf_prog_info()
            _ = fg_prog_info(fd, &info)
            let name = String(cString: bpf_program__name(program))
            if name == entryProgram { entry = fd }
            handles.append(ProgramHandle(name: name, section: String(cString: bpf_program__section_name(program)),
                                         fd: fd, id: info.id, verifiedInstructions: info.verified_insns,
                                         translatedBytes: info.xlated_prog_len, jitedBytes: info.jited_prog_len))
        }
        guard entry >= 0 else {
            throw KernelError.programNotFound(name: entryProgram + " (not loaded: autoload is off)", available: handles.map(\.name))
        }
        entryFD = entry
        programs = handles
        maps = mapPointers.filter { bpf_map__fd($0) >= 0 }.map { map in
            MapInfo(name: Self.name(of: map), type: bpf_map__type(map).rawValue, keySize: bpf_map__key_size(map),
                    valueSize: bpf_map__value_size(map), maxEntries: bpf_map__max_entries(map), fd: bpf_map__fd(map))
        }
        object = opened
        loaded = true
    }

    deinit { close() }

    /// Unloads the object: closes every program and map fd it owns. Safe to call twice.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if let object { bpf_object__close(object) }
        object = nil
    }

    /// File descriptor of the map named `name`.
    public func mapFD(_ name: String) throws -> Int32 {
        try mapInfo(name).fd
    }

    /// Type, key and value sizes, capacity and fd of the map named `name`.
    public func mapInfo(_ name: String) throws -> MapInfo {
        guard let info = maps.first(where: { $0.name == name }) else {
            throw KernelError.mapNotFound(name: name, available: maps.map(\.name))
        }
        return info
    }

    /// File descriptor of the program named `name` (a tail-call stage, or the entry program).
    public func programFD(_ name: String) throws -> Int32 {
        guard let handle = programs.first(where: { $0.name == name }) else {
            throw KernelError.programNotFound(name: name, available: programs.map(\.name))
        }
        return handle.fd
    }

    /// Layout of the struct (or union, or typedef of one) `name` from the object's BTF, as the compiler laid it out.
    public func btfStruct(named name: String) throws -> BTFStruct {
        lock.lock()
        defer { lock.unlock() }
        guard let object else { throw KernelError.btfMissing(object: objectPath + " (pipeline closed)") }
        guard let btf = bpf_object__btf(object) else { throw KernelError.btfMissing(object: objectPath) }
        return try BTFReader(btf: btf).structLayout(named: name)
    }

    /// Throws `.needsRoot` unless the process is root or holds CAP_BPF and CAP_NET_ADMIN.
    public static func requirePrivileges() throws {
        if geteuid() == 0 { return }
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingSpaces(), radix: 16) else {
            throw KernelError.needsRoot
        }
        let capBPF: UInt64 = 1 << 39, capNetAdmin: UInt64 = 1 << 12
        if mask & capBPF == 0 || mask & capNetAdmin == 0 { throw KernelError.needsRoot }
    }

    // MARK: - libbpf iteration

    private static func programs(of object: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var current = bpf_object__next_program(object, nil)
        while let program = current {
            result.append(program)
            current = bpf_object__next_program(object, program)
        }
        return result
    }

    private static func maps(of object: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var current = bpf_object__next_map(object, nil)
        while let map = current {
            result.append(map)
            current = bpf_object__next_map(object, map)
        }
        return result
    }

    private static func name(of map: OpaquePointer) -> String {
        String(cString: bpf_map__name(map))
    }

    /// Writes integer knobs into the `.rodata` image before load, at the offsets the BTF DATASEC gives,
    /// so the verifier sees them as constants and prunes disabled branches.
    private static func applyRodata(_ values: [String: UInt64], to object: OpaquePointer, maps: [OpaquePointer]) throws {
        guard let btf = bpf_object__btf(object) else { throw KernelError.btfMissing(object: "object with .rodata") }
        let variables = BTFReader(btf: btf).dataSectionVariables(".rodata")
        guard let map = maps.first(where: { name(of: $0).hasSuffix(".rodata") }) else {
            throw KernelError.constantNotFound(name: values.keys.sorted().joined(separator: ", "), available: [])
        }
        var size = 0
        guard let initial = bpf_map__initial_value(map, &size) else {
            throw KernelError.constantNotFound(name: values.keys.sorted().joined(separator: ", "), available: [])
        }
        var image = [UInt8](UnsafeRawBufferPointer(start: initial, count: size))
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let variable = variables.first(where: { $0.name == name }) else {
                throw KernelError.constantNotFound(name: name, available: variables.map(\.name))
            }
            guard [1, 2, 4, 8].contains(variable.size), variable.offset + variable.size <= image.count else {
                throw KernelError.constantSizeUnsupported(name: name, size: variable.size)
            }
            // BPF runs on the host, so the host's byte order is the program's.
            withUnsafeBytes(of: value) { raw in
                let bytes = UInt64(1).littleEndian == 1 ? Array(raw.prefix(variable.size)) : Array(raw.suffix(variable.size))
                image.replaceSubrange(variable.offset..<(variable.offset + variable.size), with: bytes)
            }
        }
        let rc = image.withUnsafeBytes { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) }
        if rc < 0 { throw KernelError.systemCall(operation: "setting .rodata constants", code: -rc) }
    }
}
