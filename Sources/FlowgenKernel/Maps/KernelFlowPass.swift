import CLibBPF
import FlowgenCore
#if canImport(Glibc)
import Glibc
#endif

/// The collector's kernel path (Templates/pass.h): flows end in the kernel in two phases, so no
/// packet is lost between reading a flow and removing it.
///
/// A pass runs `fg_pass_run` (a TC program, run with BPF_PROG_TEST_RUN) to mark the ended flows'
/// directions closing, waits for an RCU grace period (every packet program that counted before the
/// cut has then returned), and runs it again to move the closing directions (and the successors of
/// earlier ones) into the ring buffer `fg_ended` and delete them; a pass that finds nothing to
/// move (nothing ended or closing, no successor) skips the wait and the move. The ring is mapped into this
/// process: its records are read in place, exported, and only then released (the consumer
/// position moves), so a collector killed meanwhile leaves them to the next one.
public final class KernelFlowPass: KernelFlowEnding {
    /// Map and program names of the kernel path in a monitor's object.
    public static let programName = "fg_pass_run"
    /// The pass's parameters and results (one `struct fg_pass_cfg`).
    public static let configMap = "fg_pass"
    /// The ring of ended directions.
    public static let ringMap = "fg_ended"

    /// Bytes of `struct fg_pass_cfg`.
    static let configSize = 112 + 64 * 8
    enum Phase: UInt32 { case mark = 1, move = 2, ages = 3 }

    let programFD: Int32
    let configFD: Int32
    let keySize: Int
    let valueSize: Int
    private let ringSize: Int
    private let consumer: UnsafeMutableRawPointer
    private let producer: UnsafeMutableRawPointer
    private let pageSize: Int
    private let barrierOuter: Int32
    private let barrierInner: Int32
    private var starts: UnsafeMutablePointer<UnsafeRawPointer>
    private var startsRoom: Int

    /// Bytes of the ring of ended directions (its max_entries), so a twin of the pass can be given
    /// the same ring (`flowgen bench`).
    public var ringBytes: Int { ringSize }

    /// Whether this kernel has what the kernel path needs (BPF ring buffers, bpf_for_each_map_elem
    /// for TC programs: 5.13); without it the monitor is loaded without the pass, and the
    /// collector reads the table from userland.
    public static var kernelSupports: Bool { fg_kernel_pass_supported() != 0 }

    /// Uses the pass program and maps (fds borrowed: their owner keeps them open) for a flow table
    /// of `keySize`-byte keys and `valueSize`-byte records.
    public init(programFD: Int32, configFD: Int32, ringFD: Int32, keySize: Int, valueSize: Int) throws {
        (self.programFD, self.configFD, self.keySize, self.valueSize) = (programFD, configFD, keySize, valueSize)
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        if bpf_obj_get_info_by_fd(ringFD, &info, &length) < 0 {
            throw KernelError.systemCall(operation: "reading the info of map \(Self.ringMap)", code: errno)
        }
        ringSize = Int(info.max_entries)
        var cfgInfo = bpf_map_info()
        length = UInt32(MemoryLayout<bpf_map_info>.size)
        if bpf_obj_get_info_by_fd(configFD, &cfgInfo, &length) < 0 {
            throw KernelError.systemCall(operation: "reading the info of map \(Self.configMap)", code: errno)
        }
        guard Int(cfgInfo.value_size) == Self.configSize else {
            throw KernelError.sizeMismatch(what: "value of map \(Self.configMap) (struct fg_pass_cfg)", expected: Self.configSize, actual: Int(cfgInfo.value_size))
        }
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let c = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, ringFD, 0), c != MAP_FAILED else {
            throw KernelError.systemCall(operation: "mapping the consumer page of ring \(Self.ringMap)", code: errno)
        }
        // the data pages come twice in a row, so a record that wraps reads as one piece
        guard let p = mmap(nil, pageSize + 2 * ringSize, PROT_READ, MAP_SHARED, ringFD, off_t(pageSize)), p != MAP_FAILED else {
            let code = errno
            munmap(c, pageSize)
            throw KernelError.systemCall(operation: "mapping the data of ring \(Self.ringMap)", code: code)
        }
        consumer = c
        producer = p
        var inner: Int32 = -1
        let outer = fg_barrier_create(&inner)
        if outer < 0 {
            munmap(c, pageSize)
            munmap(p, pageSize + 2 * ringSize)
            throw KernelError.systemCall(operation: "creating the map-in-map the kernel pass waits on", code: -outer)
        }
        barrierOuter = outer
        barrierInner = inner
        startsRoom = 1024
        starts = .allocate(capacity: startsRoom)
    }

    deinit {
        munmap(consumer, pageSize)
        munmap(producer, pageSize + 2 * ringSize)
        Glibc.close(barrierOuter)
        Glibc.close(barrierInner)
        starts.deallocate()
    }

    /// What one run of the program did.
    struct RunResult {
        var entries = 0, marked = 0, closing = 0, moved = 0, successors = 0, evicted = 0
        /// The ring filled: 1 while moving successors, 2 after them.
        var full = 0
        var ages: [UInt64] = []
    }

    /// What a run is told.
    struct RunRequest {
        var phase: Phase
        var now: UInt64 = 0
        var policy = ExpiryPolicy()
        var evictBefore: UInt64 = 0
        var evictMax: UInt32 = 0
        var forceReason: UInt32 = 0
        /// Move: the successors were moved by an earlier run of this move (the ring filled after them).
        var skipSuccessors = false
    }

    /// Runs the program once with `request` and returns what it reported.
    func run(_ request: RunRequest) throws -> RunResult {
        var cfg = [UInt8](repeating: 0, count: Self.configSize)
        cfg.withUnsafeMutableBytes { b in
            b.storeBytes(of: request.now, toByteOffset: 0, as: UInt64.self)
            b.storeBytes(of: request.policy.idleTimeoutNs, toByteOffset: 8, as: UInt64.self)
            b.storeBytes(of: request.policy.activeTimeoutNs, toByteOffset: 16, as: UInt64.self)
            b.storeBytes(of: request.policy.endQuietNs, toByteOffset: 24, as: UInt64.self)
            b.storeBytes(of: request.evictBefore, toByteOffset: 32, as: UInt64.self)
            b.storeBytes(of: request.evictMax, toByteOffset: 40, as: UInt32.self)
            b.storeBytes(of: request.phase.rawValue, toByteOffset: 44, as: UInt32.self)
            b.storeBytes(of: request.forceReason, toByteOffset: 48, as: UInt32.self)
            b.storeBytes(of: UInt32(request.skipSuccessors ? 1 : 0), toByteOffset: 52, as: UInt32.self)
        }
        var zero: UInt32 = 0
        var rc = cfg.withUnsafeBytes { bpf_map_update_elem(configFD, &zero, $0.baseAddress, 0) }
        if rc < 0 { throw KernelError.mapOperationFailed(map: Self.configMap, operation: "update", code: -rc) }
        // a TC program runs over a packet: an empty Ethernet frame, which it does not read
        let frame = [UInt8](repeating: 0, count: 14)
        var retval: UInt32 = 0
        rc = frame.withUnsafeBytes { fg_test_run(programFD, $0.baseAddress, 14, nil, 0, nil, 0, 1, &retval, nil) }
        if rc < 0 { throw KernelError.testRunFailed(code: -rc, hint: "running the kernel collector pass \(Self.programName)") }
        rc = cfg.withUnsafeMutableBytes { bpf_map_lookup_elem(configFD, &zero, $0.baseAddress) }
        if rc < 0 { throw KernelError.mapOperationFailed(map: Self.configMap, operation: "lookup", code: -rc) }
        return cfg.withUnsafeBytes { b in
            func word(_ i: Int) -> Int { Int(truncatingIfNeeded: b.load(fromByteOffset: 56 + 8 * i, as: UInt64.self)) }
            var r = RunResult(entries: word(0), marked: word(1), closing: word(2), moved: word(3), successors: word(4),
                              evicted: word(5), full: word(6))
            if request.phase == .ages { r.ages = (0..<64).map { b.load(fromByteOffset: 112 + 8 * $0, as: UInt64.self) } }
            return r
        }
    }

    /// Waits until every BPF program running now has returned (an RCU grace period).
    func barrier() throws {
        let rc = fg_barrier_wait(barrierOuter, barrierInner)
        if rc < 0 { throw KernelError.systemCall(operation: "waiting for running packet programs (map-in-map update)", code: -rc) }
    }

    /// Hands every record waiting in the ring to `deliver`, then releases them (also when
    /// `deliver` throws: it took them over). Returns how many directions there were.
    @discardableResult
    func drainRing(_ deliver: (EndedDirections) throws -> Void) throws -> Int {
        let data = producer + pageSize
        let mask = UInt64(ringSize - 1)
        var position = fg_load_acquire_u64(consumer)
        let end = fg_load_acquire_u64(producer)
        var count = 0
        while position < end {
            let header = fg_load_acquire_u32(data + Int(position & mask))
            if header & (1 << 31) != 0 { break } // still being written: never, as runs are synchronous
            let length = UInt64(header & 0x3FFF_FFFF)
            if header & (1 << 30) == 0 {
                if count + 2 > startsRoom {
                    let grown = UnsafeMutablePointer<UnsafeRawPointer>.allocate(capacity: startsRoom * 2)
                    grown.moveInitialize(from: starts, count: count)
                    starts.deallocate()
                    starts = grown
                    startsRoom *= 2
                }
                let record = UnsafeRawPointer(data + Int(position & mask) + 8)
                (starts + count).initialize(to: record)
                count += 1
                // a flow's two directions share one record (struct fg_ended_pair): the second is its second half
                if record.load(as: UInt32.self) & EndedDirections.pairFlag != 0 {
                    (starts + count).initialize(to: record + Int(length / 2))
                    count += 1
                }
            }
            position += (length + 8 + 7) & ~7
        }
        guard count > 0 || position != fg_load_acquire_u64(consumer) else { return 0 }
        defer { fg_store_release_u64(consumer, position) }
        if count > 0 { try deliver(EndedDirections(keySize: keySize, valueSize: valueSize, count: count, starts: starts)) }
        return count
    }

    /// Moves every closing direction (and every successor that may go) out through the ring,
    /// emptying it whenever it fills.
    private func moveAll(_ request: RunRequest, _ report: inout KernelEndingReport, _ deliver: (EndedDirections) throws -> Void) throws {
        var move = request
        move.phase = .move
        while true {
            let r = try run(move)
            report.movedDirections += r.moved
            report.successorDirections += r.successors
            try drainRing(deliver)
            guard r.full != 0 else { return }
            // the successors' walk is not repeated once it got through (each walk reads the whole table)
            if r.full == 2 { move.skipSuccessors = true }
            report.ringRefills += 1
        }
    }

    /// A pass or the flush (see `KernelFlowEnding`).
    public func end(_ request: KernelEndingRequest, deliver: (EndedDirections) throws -> Void) throws -> KernelEndingReport {
        var report = KernelEndingReport()
        // what a collector killed after a move left in the ring goes first
        try drainRing(deliver)
        switch request {
        case let .pass(now, policy, highWater, lowWater):
            var base = RunRequest(phase: .mark, now: now, policy: policy)
            let marked = try run(base)
            report.entries = marked.entries
            let remaining = marked.entries - marked.marked - marked.closing
            if remaining > highWater {
                report.evicted = try evict(base, remaining: remaining, lowWater: lowWater)
            }
            // nothing to move (no flow ended, none closing from before, no successor): the grace
            // period (tens of ms on a busy machine, while new flows keep filling the table) and the
            // move's walks are skipped; a successor made meanwhile is seen by the next pass's mark
            if marked.marked + marked.closing + marked.successors + report.evicted > 0 {
                try barrier()
                base.phase = .move
                // no successor in the table at the mark: the move's walk of them (a read of the
                // whole table) is skipped; one a packet makes meanwhile waits for the next pass
                base.skipSuccessors = marked.successors == 0
                try moveAll(base, &report, deliver)
            }
        case let .flush(reason):
            // rounds until nothing is left: the second move of a round takes the successors of
            // directions the first one deleted (once no packet program can still write them)
            let base = RunRequest(phase: .mark, now: MonotonicClock.nowNs(), forceReason: UInt32(reason == .endOfCapture ? EndReason.forced.rawValue : reason.rawValue))
            for round in 0..<4 {
                let marked = try run(base)
                if round == 0 { report.entries = marked.entries }
                // an empty table at the mark: nothing closes, so no packet can make a successor and
                // the moves would find nothing (a flow that starts now is not the flush's); the
                // round's two grace periods and walks are skipped
                if marked.entries == 0 { break }
                try barrier()
                // the first move walks the successors only when the mark found some; the second
                // always does (packets may have made some since), over a table then nearly empty
                var first = base
                first.skipSuccessors = marked.successors == 0
                try moveAll(first, &report, deliver)
                try barrier()
                try moveAll(base, &report, deliver)
            }
        }
        return report
    }

    /// Marks the idlest flows as lack of resources until about `lowWater` directions remain; returns
    /// how many flows were marked. Flows are chosen by the power of two of their quiet time (in
    /// 2^20 ns units): the idlest groups whole, the last group in table order.
    private func evict(_ base: RunRequest, remaining: Int, lowWater: Int) throws -> Int {
        var request = base
        request.phase = .ages
        let ages = try run(request).ages
        let flows = ages.reduce(0, +)
        guard flows > 0, remaining > lowWater else { return 0 }
        let directionsPerFlow = Double(remaining) / Double(flows)
        let wanted = UInt64((Double(remaining - lowWater) / directionsPerFlow).rounded(.up))
        var taken: UInt64 = 0
        var bucket = ages.count - 1
        while bucket > 0 && taken + ages[bucket] < wanted {
            taken += ages[bucket]
            bucket -= 1
        }
        let quietUnits: UInt64 = bucket == 0 ? 0 : 1 << UInt64(bucket - 1)
        let quiet = quietUnits << 20
        request.phase = .mark
        request.evictBefore = base.now > quiet ? base.now - quiet : 0
        request.evictMax = UInt32(clamping: wanted)
        return try run(request).evicted
    }
}
