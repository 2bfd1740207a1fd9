import CLibBPF
import FlowgenCore

/// Reads a `BPF_MAP_TYPE_PERCPU_ARRAY` of `u64` counters and sums each index over all possible CPUs.
public struct PerCPUCounters: Sendable {
    /// Map file descriptor (not owned).
    public let fd: Int32
    /// Name used in error messages.
    public let name: String
    /// Number of counters (the array's max_entries).
    public let entries: Int
    /// CPUs the kernel keeps a slot for (`libbpf_num_possible_cpus`), which may exceed the online ones.
    public let possibleCPUs: Int

    /// Wraps a per-CPU array fd of `entries` u64 counters.
    public init(fd: Int32, entries: Int, name: String = "counters") throws {
        let cpus = libbpf_num_possible_cpus()
        if cpus < 0 { throw KernelError.systemCall(operation: "counting possible CPUs", code: -cpus) }
        self.fd = fd
        self.entries = entries
        self.name = name
        self.possibleCPUs = Int(cpus)
    }

    /// Wraps the map `map` of a loaded pipeline, checking it is a per-CPU array of u64.
    public init(pipeline: LoadedObject, map: String) throws {
        let info = try pipeline.mapInfo(map)
        guard info.type == 6 else {
            throw KernelError.wrongMapType(map: map, expected: "percpu_array", actual: info.typeName)
        }
        guard info.valueSize == 8 else {
            throw KernelError.sizeMismatch(what: "value of per-CPU counter map \(map)", expected: 8, actual: Int(info.valueSize))
        }
        try self.init(fd: info.fd, entries: Int(info.maxEntries), name: map)
    }

    /// Each counter summed over CPUs, index by index.
    public func read() throws -> [UInt64] {
        try readPerCPU().map { $0.reduce(0, &+) }
    }

    /// Each counter's per-CPU values (`[index][cpu]`).
    public func readPerCPU() throws -> [[UInt64]] {
        // The kernel copies round_up(value_size, 8) bytes per possible CPU: exactly one u64 each here.
        var slots = [UInt64](repeating: 0, count: possibleCPUs)
        var result: [[UInt64]] = []
        result.reserveCapacity(entries)
        for index in 0..<entries {
            var key = UInt32(index)
            let rc = slots.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &key, $0.baseAddress) }
            if rc < 0 { throw KernelError.mapOperationFailed(map: name, operation: "lookup of counter \(index)", code: -rc) }
            result.append(slots)
        }
        return result
    }

    /// The counters flowgen's programs keep, by name (indexes beyond the map are read as 0).
    public func kernelCounters() throws -> [KernelCounter: UInt64] {
        let sums = try read()
        var result: [KernelCounter: UInt64] = [:]
        for counter in KernelCounter.allCases {
            result[counter] = counter.rawValue < sums.count ? sums[counter.rawValue] : 0
        }
        return result
    }

    /// Sets every counter on every CPU to zero.
    public func reset() throws {
        let zeros = [UInt64](repeating: 0, count: possibleCPUs)
        for index in 0..<entries {
            var key = UInt32(index)
            let rc = zeros.withUnsafeBytes { bpf_map_update_elem(fd, &key, $0.baseAddress, 0) }
            if rc < 0 { throw KernelError.mapOperationFailed(map: name, operation: "reset of counter \(index)", code: -rc) }
        }
    }
}
