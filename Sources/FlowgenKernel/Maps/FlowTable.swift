import CLibBPF
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads and drains a BPF hash (or LRU hash) map of fixed-size keys and values.
///
/// Whole-table reads use `BPF_MAP_LOOKUP_BATCH` (or `LOOKUP_AND_DELETE_BATCH`) in chunks, straight
/// into growing flat buffers; kernels or map types without batch support fall back to
/// `get_next_key` + lookup. The fd stays owned by whoever opened the map (usually a `LoadedPipeline`).
/// Calls are independent system calls, so the value may be used from several threads.
public struct FlowTable: Sendable {
    /// Map file descriptor (not owned).
    public let fd: Int32
    /// Name used in error messages.
    public let name: String
    /// Bytes per key.
    public let keySize: Int
    /// Bytes per value (per-CPU hash maps are not supported: their values are per CPU).
    public let valueSize: Int
    /// Entries requested per batch system call.
    public var chunkSize: Int = 4096

    /// Wraps a hash map fd with known key and value sizes.
    public init(fd: Int32, keySize: Int, valueSize: Int, name: String = "flow table") {
        precondition(keySize > 0 && valueSize > 0, "hash map keys and values have a size")
        self.fd = fd
        self.keySize = keySize
        self.valueSize = valueSize
        self.name = name
    }

    /// Wraps the map `map` of a loaded pipeline, taking sizes from the object.
    public init(pipeline: LoadedPipeline, map: String) throws {
        let info = try pipeline.mapInfo(map)
        self.init(fd: info.fd, keySize: Int(info.keySize), valueSize: Int(info.valueSize), name: map)
    }

    /// Every entry, left in the map. Entries updated during the walk may show either value.
    public func snapshot() throws -> FlowSnapshot {
        try walk(deleting: false, keep: true).snapshot
    }

    /// Every entry, removed from the map as it is read (so no update between read and delete is lost
    /// except the ones that land after their bucket was drained, which simply start a new entry).
    public func drain() throws -> FlowSnapshot {
        try walk(deleting: true, keep: true).snapshot
    }

    /// Number of entries, counted by walking the map in fixed-size chunks (no buffer grows with the table).
    public func count() throws -> Int {
        try walk(deleting: false, keep: false).total
    }

    /// The value stored under `key`, nil if absent.
    public func lookup(_ key: [UInt8]) throws -> [UInt8]? {
        try checkKey(key)
        var value = [UInt8](repeating: 0, count: valueSize)
        let rc = key.withUnsafeBytes { k in value.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, k.baseAddress, $0.baseAddress) } }
        if rc < 0 {
            if -rc == ENOENT { return nil }
            throw KernelError.mapOperationFailed(map: name, operation: "lookup", code: -rc)
        }
        return value
    }

    /// Removes `key` and returns the value it had, atomically; nil if absent.
    public func lookupAndDelete(_ key: [UInt8]) throws -> [UInt8]? {
        try checkKey(key)
        var value = [UInt8](repeating: 0, count: valueSize)
        let rc = key.withUnsafeBytes { k in
            value.withUnsafeMutableBytes { bpf_map_lookup_and_delete_elem(fd, k.baseAddress, $0.baseAddress) }
        }
        if rc < 0 {
            if -rc == ENOENT { return nil }
            throw KernelError.mapOperationFailed(map: name, operation: "lookup-and-delete", code: -rc)
        }
        return value
    }

    /// Removes `key`; returns false if it was not there.
    @discardableResult
    public func delete(_ key: [UInt8]) throws -> Bool {
        try checkKey(key)
        let rc = key.withUnsafeBytes { bpf_map_delete_elem(fd, $0.baseAddress) }
        if rc < 0 {
            if -rc == ENOENT { return false }
            throw KernelError.mapOperationFailed(map: name, operation: "delete", code: -rc)
        }
        return true
    }

    /// Inserts or replaces `key` (for tests and for seeding state).
    public func update(_ key: [UInt8], _ value: [UInt8]) throws {
        try checkKey(key)
        guard value.count == valueSize else { throw KernelError.sizeMismatch(what: "value for map \(name)", expected: valueSize, actual: value.count) }
        let rc = key.withUnsafeBytes { k in value.withUnsafeBytes { bpf_map_update_elem(fd, k.baseAddress, $0.baseAddress, 0) } }
        if rc < 0 { throw KernelError.mapOperationFailed(map: name, operation: "update", code: -rc) }
    }

    /// Inserts or replaces many entries given as flat buffers (`count * keySize`, `count * valueSize`), in batches.
    public func updateBatch(keys: [UInt8], values: [UInt8]) throws {
        guard keys.count % keySize == 0, values.count % valueSize == 0, keys.count / keySize == values.count / valueSize else {
            throw KernelError.sizeMismatch(what: "flat value buffer for \(keys.count / keySize) keys of map \(name)",
                                           expected: keys.count / keySize * valueSize, actual: values.count)
        }
        let total = keys.count / keySize
        var done = 0
        try keys.withUnsafeBytes { k in
            try values.withUnsafeBytes { v in
                while done < total {
                    var n = UInt32(min(chunkSize, total - done))
                    let rc = bpf_map_update_batch(fd, k.baseAddress! + done * keySize, v.baseAddress! + done * valueSize, &n, nil)
                    if rc < 0 { throw KernelError.mapOperationFailed(map: name, operation: "update batch", code: -rc) }
                    done += Int(n)
                }
            }
        }
    }

    private func checkKey(_ key: [UInt8]) throws {
        guard key.count == keySize else { throw KernelError.sizeMismatch(what: "key for map \(name)", expected: keySize, actual: key.count) }
    }

    // MARK: - Walking

    /// Batch walk; with `keep` false entries are counted and their bytes overwritten chunk after chunk.
    private func walk(deleting: Bool, keep: Bool) throws -> (snapshot: FlowSnapshot, total: Int) {
        let keys = RawBuffer(), values = RawBuffer()
        // The batch cursor is opaque: a bucket index for hash maps, a key for others. Key-sized, at least 8 bytes.
        let tokenSize = max(keySize, 8)
        let inToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        let outToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        defer { inToken.deallocate(); outToken.deallocate() }

        var chunk = max(chunkSize, 1)
        var total = 0
        var stored = 0
        var first = true
        while true {
            keys.reserve((stored + chunk) * keySize)
            values.reserve((stored + chunk) * valueSize)
            var n = UInt32(chunk)
            let rc = fg_map_lookup_batch(fd, first ? nil : inToken, outToken,
                                         keys.pointer + stored * keySize, values.pointer + stored * valueSize,
                                         &n, deleting ? 1 : 0)
            let code = rc < 0 ? -rc : 0
            if rc == 0 || code == ENOENT {
                total += Int(n)
                if keep { stored += Int(n) }
                if code == ENOENT { break }
                inToken.copyMemory(from: outToken, byteCount: tokenSize)
                first = false
                continue
            }
            // A single bucket holds more entries than the chunk: retry with room for it.
            if code == ENOSPC && n == 0 && chunk < (1 << 24) {
                chunk *= 2
                continue
            }
            if first && (code == EINVAL || code == 524 || code == EOPNOTSUPP) {
                return try walkOneByOne(deleting: deleting, keep: keep)
            }
            throw KernelError.mapOperationFailed(map: name, operation: deleting ? "lookup-and-delete batch" : "lookup batch", code: code)
        }
        return (FlowSnapshot(keySize: keySize, valueSize: valueSize,
                             keys: keys.array(count: stored * keySize), values: values.array(count: stored * valueSize)), total)
    }

    /// Fallback for maps without batch operations: collect keys with get_next_key, then read
    /// (or read-and-delete) each one; deleting during the key walk would restart it from the first bucket.
    func walkOneByOne(deleting: Bool, keep: Bool) throws -> (snapshot: FlowSnapshot, total: Int) {
        var allKeys: [UInt8] = []
        var current = [UInt8](repeating: 0, count: keySize)
        var next = [UInt8](repeating: 0, count: keySize)
        var started = false
        while true {
            let rc = current.withUnsafeBytes { cur in
                next.withUnsafeMutableBytes { bpf_map_get_next_key(fd, started ? cur.baseAddress : nil, $0.baseAddress) }
            }
            if rc < 0 {
                if -rc == ENOENT { break }
                throw KernelError.mapOperationFailed(map: name, operation: "get-next-key", code: -rc)
            }
            allKeys.append(contentsOf: next)
            swap(&current, &next)
            started = true
        }
        var keptKeys: [UInt8] = []
        var keptValues: [UInt8] = []
        var total = 0
        for index in 0..<(allKeys.count / keySize) {
            let key = Array(allKeys[(index * keySize)..<((index + 1) * keySize)])
            guard let value = deleting ? try lookupAndDelete(key) : try lookup(key) else { continue }
            total += 1
            if keep {
                keptKeys.append(contentsOf: key)
                keptValues.append(contentsOf: value)
            }
        }
        return (FlowSnapshot(keySize: keySize, valueSize: valueSize, keys: keptKeys, values: keptValues), total)
    }

    /// malloc'd bytes that grow geometrically, so the kernel writes each batch in place.
    private final class RawBuffer {
        private(set) var pointer: UnsafeMutableRawPointer
        private var capacity: Int

        init() {
            capacity = 4096
            pointer = malloc(capacity)!
        }

        deinit { free(pointer) }

        func reserve(_ bytes: Int) {
            guard bytes > capacity else { return }
            var newCapacity = capacity
            while newCapacity < bytes { newCapacity *= 2 }
            guard let grown = realloc(pointer, newCapacity) else { fatalError("out of memory growing a map snapshot to \(newCapacity) bytes") }
            pointer = grown
            capacity = newCapacity
        }

        /// The first `count` bytes as an array (one memcpy).
        func array(count: Int) -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { memcpy(buffer.baseAddress!, pointer, count) }
                initialized = count
            }
        }
    }
}
