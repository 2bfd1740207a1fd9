/// Shape of a map in a loaded object.
public struct MapInfo: Sendable, Equatable {
    /// Map name as libbpf reports it (internal maps read like `obj.rodata`).
    public var name: String
    /// `BPF_MAP_TYPE_*` value, e.g. 1 for a hash map.
    public var type: UInt32
    /// Key size in bytes.
    public var keySize: UInt32
    /// Value size in bytes (per CPU for per-CPU maps).
    public var valueSize: UInt32
    /// Capacity in entries, after any size override given at load.
    public var maxEntries: UInt32
    /// File descriptor, valid while the owning `LoadedObject` is open.
    public var fd: Int32

    /// Creates a map description.
    public init(name: String, type: UInt32, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32, fd: Int32) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.fd = fd
    }

    /// The type's name without the `BPF_MAP_TYPE_` prefix, e.g. `hash`, for messages.
    public var typeName: String {
        let names: [UInt32: String] = [
            1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash",
            6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash", 10: "lru_percpu_hash",
            11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps", 27: "ringbuf",
        ]
        return names[type] ?? "type \(type)"
    }
}
