import FlowgenCore
import CLibBPF
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads and drains a BPF hash (or LRU hash) map of fixed-size keys and values.
///
/// Whole-table reads use `BPF_MAP_LOOKUP_BATCH` (or `LOOKUP_AND_DELETE_BATCH`) in chunks, straight
/// into the snapshot's flat arrays (sized for the map's capacity: untouched pages cost no memory, and
/// nothing is copied afterwards); kernels or map types without batch support fall back to
/// `get_next_key` + lookup. The fd stays owned by whoever opened the map (usually a `LoadedObject`).
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
    /// Capacity of the map in entries (nil: unknown, snapshots grow as they fill).
    public let maxEntries: Int?
    /// Entries requested per batch system call: 2 MiB of keys and values, at least 4,096 entries.
    /// What the caller of `walk` does between two calls evicts the kernel's place in the walk from
    /// the caches, so fewer, larger calls cost less (base's million entries drained in chunks of
    /// 4,096 took ~20% longer than in one buffer; in chunks of 2 MiB no longer).
    public var chunkSize: Int

    /// Wraps a hash map fd with known key and value sizes.
    public init(fd: Int32, keySize: Int, valueSize: Int, maxEntries: Int? = nil, name: String = "flow table") {
        precondition(keySize > 0 && valueSize > 0, "hash map keys and values have a size")
        self.fd = fd
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.name = name
        chunkSize = max(4096, (2 << 20) / (keySize + valueSize))
    }

    /// Wraps the map `map` of a loaded pipeline, taking sizes from the object.
    public init(pipeline: LoadedObject, map: String) throws {
        let info = try pipeline.mapInfo(map)
        self.init(fd: info.fd, keySize: Int(info.keySize), valueSize: Int(info.valueSize), maxEntries: Int(info.maxEntries), name: map)
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

    /// Every entry (removed from the map as it is read when `deleting`), handed to `body` one batch
    /// call at a time through two buffers of `chunkSize` entries reused for every call: a walk holds
    /// one chunk, whatever the size of the table. `body` may delete entries it was given (their
    /// buckets are behind the walk's cursor). Maps without batch operations come as one run.
    public func walk(deleting: Bool, _ body: (FlowEntries) throws -> Void) throws {
        var room = 0
        var keys = UnsafeMutableRawPointer.allocate(byteCount: 0, alignment: 8)
        var values = UnsafeMutableRawPointer.allocate(byteCount: 0, alignment: 8)
        defer { keys.deallocate(); values.deallocate() }
        var chunk = max(chunkSize, 1)
        let batched = try batchCalls(deleting: deleting, chunk: &chunk, into: { chunk in
            if chunk > room {
                keys.deallocate()
                values.deallocate()
                keys = .allocate(byteCount: chunk * keySize, alignment: 8)
                values = .allocate(byteCount: chunk * valueSize, alignment: 8)
                room = chunk
            }
            return (keys, values)
        }, received: { n in
            try body(FlowEntries(keySize: keySize, valueSize: valueSize, count: n, keys: keys, values: values))
        })
        if !batched {
            try FlowEntries.withEntries(of: try walkOneByOne(deleting: deleting, keep: true).snapshot, body)
        }
    }

    /// The batch system calls of a walk, one after the other until the map is exhausted: each call
    /// reads (or, `deleting`, reads and removes) up to `chunk` entries into the buffers `into` gives
    /// for that chunk size, and `received` is told how many came. A bucket larger than the chunk
    /// doubles it. False when the map has no batch operations (nothing was read).
    private func batchCalls(deleting: Bool, chunk: inout Int,
                            into buffers: (Int) throws -> (keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer),
                            received: (Int) throws -> Void) throws -> Bool {
        // The batch cursor is opaque: a bucket index for hash maps, a key for others. Key-sized, at least 8 bytes.
        let tokenSize = max(keySize, 8)
        let inToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        let outToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        defer { inToken.deallocate(); outToken.deallocate() }
        var first = true
        while true {
            let (keys, values) = try buffers(chunk)
            var n = UInt32(chunk)
            let rc = fg_map_lookup_batch(fd, first ? nil : inToken, outToken, keys, values, &n, deleting ? 1 : 0)
            let code = rc < 0 ? -rc : 0
            if rc == 0 || code == ENOENT {
                if n > 0 { try received(Int(n)) }
                if code == ENOENT { return true }
                inToken.copyMemory(from: outToken, byteCount: tokenSize)
                first = false
                continue
            }
            // A single bucket holds more entries than the chunk: retry with room for it.
            if code == ENOSPC && n == 0 && chunk < (1 << 24) {
                chunk *= 2
                continue
            }
            if first && (code == EINVAL || code == 524 || code == EOPNOTSUPP) { return false }
            throw KernelError.mapOperationFailed(map: name, operation: deleting ? "lookup-and-delete batch" : "lookup batch", code: code)
        }
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

    /// Removes the keys in `keys` (`count * keySize` bytes) with `BPF_MAP_DELETE_BATCH`, one call per
    /// chunk; keys already gone are skipped (one by one, as the batch stops at the first missing key).
    public func deleteBatch(keys: [UInt8]) throws {
        guard keys.count % keySize == 0 else {
            throw KernelError.sizeMismatch(what: "flat key buffer for map \(name)", expected: keys.count / keySize * keySize, actual: keys.count)
        }
        let total = keys.count / keySize
        var done = 0
        try keys.withUnsafeBytes { k in
            while done < total {
                var n = UInt32(min(chunkSize, total - done))
                let rc = bpf_map_delete_batch(fd, k.baseAddress! + done * keySize, &n, nil)
                done += Int(n)
                if rc == 0 { continue }
                // the key at `done` is missing (removed meanwhile), or the kernel lacks batch deletion
                guard -rc == ENOENT || -rc == EINVAL || -rc == 524 || -rc == EOPNOTSUPP else {
                    throw KernelError.mapOperationFailed(map: name, operation: "delete batch", code: -rc)
                }
                if done < total {
                    try delete(Array(UnsafeRawBufferPointer(rebasing: k[(done * keySize)..<((done + 1) * keySize)])))
                    done += 1
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
        var chunk = max(chunkSize, 1)
        // A hash map never holds more than its capacity: arrays of that size (plus a chunk) are
        // never outgrown; their untouched pages are never resident.
        var capacity = keep ? (maxEntries ?? chunk * 4) + chunk : chunk
        while true {
            do {
                return try walk(deleting: deleting, keep: keep, capacity: capacity, chunk: &chunk)
            } catch WalkError.outgrown {
                capacity *= 4 // capacity unknown and the map held more: read again with room
            } catch WalkError.noBatch {
                return try walkOneByOne(deleting: deleting, keep: keep)
            }
        }
    }

    private enum WalkError: Error { case outgrown, noBatch }

    private func walk(deleting: Bool, keep: Bool, capacity: Int, chunk: inout Int) throws -> (snapshot: FlowSnapshot, total: Int) {
        var total = 0
        var stored = 0
        var values: [UInt8] = []
        var batched = true
        let keys = try [UInt8](unsafeUninitializedCapacity: capacity * keySize) { keyBuffer, keysInitialized in
            values = try [UInt8](unsafeUninitializedCapacity: capacity * valueSize) { valueBuffer, valuesInitialized in
                defer {
                    keysInitialized = stored * keySize
                    valuesInitialized = stored * valueSize
                }
                // straight into the arrays, after what is stored (or over it, when only counting)
                batched = try batchCalls(deleting: deleting, chunk: &chunk, into: { chunk in
                    if capacity - stored < chunk {
                        // a walk that deletes cannot start again; only a table of unknown capacity gets here
                        if deleting && stored > 0 {
                            throw KernelError.mapOperationFailed(map: name, operation: "drain (more entries than expected; give the table's capacity)", code: ENOSPC)
                        }
                        throw WalkError.outgrown
                    }
                    return (UnsafeMutableRawPointer(keyBuffer.baseAddress! + stored * keySize),
                            UnsafeMutableRawPointer(valueBuffer.baseAddress! + stored * valueSize))
                }, received: { n in
                    total += n
                    if keep { stored += n }
                })
            }
        }
        guard batched else { throw WalkError.noBatch }
        return (FlowSnapshot(keySize: keySize, valueSize: valueSize, keys: keys, values: values), total)
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
}
