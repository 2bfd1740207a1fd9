import Foundation
import SystemPackage
import FlowgenCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One loaded copy of a monitor's native build (`Templates/native.c`): its entry points resolved
/// with `dlsym`, its maps created. Each instance dlopens a private copy of the file, because the
/// dynamic loader hands out the already-loaded copy (with its flow table) for a second `dlopen` of
/// the same file, and two replays must never share a table. Unloaded when released.
///
/// Not thread-safe: one replay thread uses it at a time (the replay barrier orders the collector).
final class NativeLibrary {
    /// The version of the entry points this flowgen calls (`FG_NATIVE_ABI` in native.c).
    static let abi: UInt32 = 2

    typealias Run = @convention(c) (UnsafeRawPointer?, UInt32, UInt32, UInt64) -> Int32
    typealias Size = @convention(c) () -> UInt32
    typealias Pointer = @convention(c) () -> UnsafeRawPointer?
    typealias Lookup = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32) -> Int32
    typealias Delete = @convention(c) (UnsafeRawPointer?, UInt32) -> UInt32
    typealias Update = @convention(c) (UnsafeRawPointer?, UnsafeRawPointer?, UInt64) -> Int32
    typealias Clear = @convention(c) () -> Void
    typealias Counters = @convention(c) (UnsafeMutablePointer<UInt64>?, UInt32) -> UInt32
    typealias Status = @convention(c) () -> Int32

    /// The library file (the cached build, not the private copy).
    let path: String
    private let handle: UnsafeMutableRawPointer
    let run: Run
    let count: Size
    let keys: Pointer
    let values: Pointer
    let lookup: Lookup
    let delete: Delete
    let update: Update
    let clear: Clear
    let counters: Counters
    let status: Status
    let failedMapType: Size
    private let free: Clear
    /// Bytes of `struct fg_flow_key`.
    let keySize: Int
    /// Bytes of `struct fg_record`.
    let valueSize: Int
    /// Capacity of the flow table (max_entries of fg_flows).
    let capacity: Int

    /// Loads a private copy of the library at `path` and creates its maps.
    init(path: String) throws {
        self.path = path
        let copy = try Self.privateCopy(of: path)
        defer { unlink(copy) } // the mapping keeps the file alive
        guard let handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL) else {
            throw NativeError.loadFailed(path: path, reason: dlerror().map { String(cString: $0) } ?? "dlopen failed")
        }
        self.handle = handle
        func symbol<T>(_ name: String, as type: T.Type) throws -> T {
            guard let address = dlsym(handle, name) else {
                dlclose(handle)
                throw NativeError.symbolMissing(path: path, symbol: name)
            }
            return unsafeBitCast(address, to: type)
        }
        let abi = try symbol("fg_native_abi", as: Size.self)()
        guard abi == Self.abi else {
            dlclose(handle)
            throw NativeError.abiMismatch(path: path, found: abi, expected: Self.abi)
        }
        run = try symbol("fg_native_run", as: Run.self)
        count = try symbol("fg_native_count", as: Size.self)
        keys = try symbol("fg_native_keys", as: Pointer.self)
        values = try symbol("fg_native_values", as: Pointer.self)
        lookup = try symbol("fg_native_lookup", as: Lookup.self)
        delete = try symbol("fg_native_delete", as: Delete.self)
        update = try symbol("fg_native_update", as: Update.self)
        clear = try symbol("fg_native_clear", as: Clear.self)
        counters = try symbol("fg_native_counters", as: Counters.self)
        status = try symbol("fg_native_status", as: Status.self)
        failedMapType = try symbol("fg_native_failed_map_type", as: Size.self)
        free = try symbol("fg_native_free", as: Clear.self)
        keySize = Int(try symbol("fg_native_key_size", as: Size.self)())
        valueSize = Int(try symbol("fg_native_value_size", as: Size.self)())
        capacity = Int(try symbol("fg_native_capacity", as: Size.self)())
        let initialize = try symbol("fg_native_init", as: Status.self)
        let rc = initialize()
        if rc != 0 {
            let type = failedMapType()
            free()
            dlclose(handle)
            throw NativeError.mapFailed(code: rc, mapType: type)
        }
    }

    deinit {
        free()
        dlclose(handle)
    }

    /// Fails when a map created while running (not at load) could not be.
    func checkStatus() throws {
        let rc = status()
        if rc != 0 { throw NativeError.mapFailed(code: rc, mapType: failedMapType()) }
    }

    /// Copies the library under a fresh name for a dlopen of its own: beside itself (the same file
    /// system, so it is mappable wherever the build was), else in the temporary directory (a cache
    /// that is read-only to this user).
    private static func privateCopy(of path: String) throws -> String {
        // its constructors run in this process: never a file another user could have written
        do {
            try PathTrust.invokingUser.check(path, is: .file)
        } catch let untrusted as PathTrust.Untrusted {
            throw NativeError.loadFailed(path: path, reason: "refused: \(untrusted.description); remove the cache entry or choose a cache of your own with --cache-dir")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NativeError.loadFailed(path: path, reason: "cannot read it (\(Errno(rawValue: errno).description))")
        }
        let name = "\((path as NSString).lastPathComponent).\(getpid())-\(UInt64.random(in: 0...UInt64.max)).so"
        var reasons: [String] = []
        for directory in [(path as NSString).deletingLastPathComponent, NSTemporaryDirectory()] {
            let copy = (directory as NSString).appendingPathComponent(name)
            let fd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o700)
            guard fd >= 0 else {
                reasons.append("\(directory): \(Errno(rawValue: errno).description)")
                continue
            }
            var written = 0
            data.withUnsafeBytes { raw in
                while written < raw.count {
                    let n = write(fd, raw.baseAddress! + written, raw.count - written)
                    if n <= 0 { break }
                    written += n
                }
            }
            let reason = Errno(rawValue: errno).description
            close(fd)
            if written == data.count { return copy }
            unlink(copy)
            reasons.append("\(directory): \(reason)")
        }
        throw NativeError.loadFailed(path: path, reason: "cannot write a private copy to load (\(reasons.joined(separator: "; ")))")
    }
}
