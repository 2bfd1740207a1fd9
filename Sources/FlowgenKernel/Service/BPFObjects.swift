import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Pins, opens and describes BPF programs and maps by path or id (what a later process needs to
/// find the objects an earlier one loaded). Returned fds belong to the caller.
public enum BPFObjects {
    /// True when `path` (or, if it does not exist yet, its nearest existing ancestor) lies on a BPF
    /// filesystem: the longest mount point above it in /proc/self/mountinfo has type `bpf`.
    /// (Read from mountinfo because Swift's Glibc module does not offer statfs.)
    public static func isOnBPFFilesystem(_ path: String) -> Bool {
        var candidate = (path as NSString).standardizingPath
        while !FileManager.default.fileExists(atPath: candidate) && candidate != "/" {
            candidate = (candidate as NSString).deletingLastPathComponent
        }
        let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        var best: (length: Int, type: String)?
        for line in mountinfo.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            let fields = line.split(separator: " ")
            guard fields.count > 6, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = unescapeMountPath(String(fields[4]))
            let covers = mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
            // later lines mount over earlier ones at the same point
            if covers, mountPoint.count >= (best?.length ?? -1) { best = (mountPoint.count, String(fields[dash + 1])) }
        }
        return best?.type == "bpf"
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes.
    static func unescapeMountPath(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var out = "", chars = Array(text), i = 0
        while i < chars.count {
            if chars[i] == "\\", i + 3 < chars.count, let code = UInt8(String(chars[(i + 1)...(i + 3)]), radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                i += 4
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return out
    }

    /// Pins `fd` at `path` (which must not exist).
    static func pin(_ fd: Int32, at path: String) throws {
        if bpf_obj_pin(fd, path) != 0 {
            throw KernelError.systemCall(operation: "pinning a BPF object at \(path)", code: errno)
        }
    }

    /// Opens the object pinned at `path`; nil when nothing is pinned there.
    static func openPinned(_ path: String) throws -> Int32? {
        let fd = bpf_obj_get(path)
        if fd >= 0 { return fd }
        if errno == ENOENT { return nil }
        throw KernelError.systemCall(operation: "opening pinned BPF object \(path)", code: errno)
    }

    /// Opens the map with kernel id `id`; nil when it no longer exists.
    static func openMap(id: UInt32) throws -> Int32? {
        let fd = bpf_map_get_fd_by_id(id)
        if fd >= 0 { return fd }
        if errno == ENOENT { return nil }
        throw KernelError.systemCall(operation: "opening BPF map id \(id)", code: errno)
    }

    /// Opens the program with kernel id `id`; nil when it no longer exists.
    static func openProgram(id: UInt32) throws -> Int32? {
        let fd = bpf_prog_get_fd_by_id(id)
        if fd >= 0 { return fd }
        if errno == ENOENT { return nil }
        throw KernelError.systemCall(operation: "opening BPF program id \(id)", code: errno)
    }

    /// The kernel's description of a map fd.
    static func mapInfo(_ fd: Int32) throws -> bpf_map_info {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        if bpf_obj_get_info_by_fd(fd, &info, &length) != 0 {
            throw KernelError.systemCall(operation: "reading BPF map info of fd \(fd)", code: errno)
        }
        return info
    }

    /// A map's id and sizes, as plain Swift values.
    public struct MapShape: Sendable, Equatable {
        /// Kernel map id.
        public var id: UInt32
        /// Key size in bytes.
        public var keySize: Int
        /// Value size in bytes.
        public var valueSize: Int
        /// Capacity in entries.
        public var maxEntries: Int
    }

    /// The id and sizes of a map fd.
    static func shape(_ fd: Int32) throws -> MapShape {
        let info = try mapInfo(fd)
        return MapShape(id: info.id, keySize: Int(info.key_size), valueSize: Int(info.value_size), maxEntries: Int(info.max_entries))
    }

    /// The kernel id of a program fd.
    static func programID(_ fd: Int32) throws -> UInt32 {
        var info = bpf_prog_info()
        let rc = fg_prog_info(fd, &info)
        if rc < 0 { throw KernelError.systemCall(operation: "reading BPF program info of fd \(fd)", code: -rc) }
        return info.id
    }

    /// The map name the kernel keeps (cut at 15 characters).
    static func mapName(of info: bpf_map_info) -> String {
        var copy = info
        return withUnsafeBytes(of: &copy.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Layout of `struct name` in the BTF the kernel holds for a map (the object's BTF, loaded with it).
    static func btfStruct(ofMap info: bpf_map_info, named name: String) throws -> BTFStruct? {
        guard info.btf_id != 0 else { return nil }
        guard let btf = btf__load_from_kernel_by_id(info.btf_id) else {
            throw KernelError.systemCall(operation: "loading BTF id \(info.btf_id) of a pinned map", code: errno)
        }
        defer { btf__free(btf) }
        return try BTFReader(btf: btf).structLayout(named: name)
    }
}
