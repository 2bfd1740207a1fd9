/// What a collector asks of a kernel pass (`KernelFlowEnding`).
public enum KernelEndingRequest: Sendable, Equatable {
    /// End the flows that ended by `now` under `policy`; when more than `highWater` directions
    /// remain, also the idlest (lack of resources) until about `lowWater` remain.
    case pass(now: UInt64, policy: ExpiryPolicy, highWater: Int, lowWater: Int)
    /// End every flow with `reason` (TCP flows that ended by FIN/RST keep "end of flow").
    case flush(reason: EndReason)
}

/// What a kernel pass did.
public struct KernelEndingReport: Sendable, Equatable {
    /// Directions in the table when the pass began.
    public var entries = 0
    /// Directions the pass moved out of the table (ended flows, both directions).
    public var movedDirections = 0
    /// Successor directions moved (packets counted after their direction's cut).
    public var successorDirections = 0
    /// Flows ended early for lack of room.
    public var evicted = 0
    /// Times the ring filled and the pass emptied it before going on.
    public var ringRefills = 0

    /// An empty report.
    public init() {}
}

/// Ended directions as a kernel pass hands them over: records of `struct fg_ended` (flags, end
/// reason, key, record), borrowed for the call they are passed to. A record flagged `pair` is
/// followed by its flow's other direction.
public struct EndedDirections {
    /// Bytes per key.
    public let keySize: Int
    /// Bytes per record.
    public let valueSize: Int
    /// Number of directions.
    public let count: Int
    /// Where each `struct fg_ended` starts.
    public let starts: UnsafePointer<UnsafeRawPointer>

    /// Wraps `count` records at `starts`.
    public init(keySize: Int, valueSize: Int, count: Int, starts: UnsafePointer<UnsafeRawPointer>) {
        (self.keySize, self.valueSize, self.count, self.starts) = (keySize, valueSize, count, starts)
    }

    /// `FG_ENDED_PAIR`: the next record is the other direction of this one's flow.
    public static let pairFlag: UInt32 = 1
    /// `FG_ENDED_SUCCESSOR`: packets that came after their direction's cut.
    public static let successorFlag: UInt32 = 2

    /// The flags of direction `i`.
    public func flags(_ i: Int) -> UInt32 { starts[i].loadUnaligned(as: UInt32.self) }
    /// The IPFIX end reason of direction `i`'s flow.
    public func reason(_ i: Int) -> UInt32 { starts[i].loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
    /// The key of direction `i`.
    public func key(_ i: Int) -> UnsafeRawPointer { starts[i] + 8 }
    /// The record of direction `i`.
    public func record(_ i: Int) -> UnsafeRawPointer { starts[i] + 8 + keySize }
}

/// A flow table whose flows end in the kernel: a program applies the end rules, moves each ended
/// flow's directions into memory the collector reads without a system call per flow, and deletes
/// them, so that no packet counted meanwhile is lost (`FlowCollector` uses it when set).
public protocol KernelFlowEnding: AnyObject {
    /// Runs a pass; `deliver` gets the ended directions a run at a time (never a flow split
    /// between two runs) and takes them over: what it was given is released when it returns or
    /// throws (a failed export keeps its flows in the collector), and the pass stops at a throw.
    func end(_ request: KernelEndingRequest, deliver: (EndedDirections) throws -> Void) throws -> KernelEndingReport
}

extension FlowCollector {
    /// A pass through the kernel path (`kernelEnding`): the kernel decides and moves, the collector
    /// orients each flow's directions (the initiator first), numbers and exports them.
    func kernelPass(_ ending: any KernelFlowEnding, _ request: KernelEndingRequest) throws -> KernelEndingReport {
        try retryPending()
        var batch = BiflowBatch(valueCount: decoder.columns.count, capacity: exportBatch)
        return try ending.end(request) { run in
            // after a failed export the run's other flows are kept with it (they left the kernel)
            var failure: (any Error)?
            func flush() {
                guard failure == nil else {
                    keep(batch)
                    batch.removeAll()
                    return
                }
                do { try exportKernelBatch(&batch) } catch { failure = error }
            }
            var i = 0
            while i < run.count {
                let paired = run.flags(i) & EndedDirections.pairFlag != 0 && i + 1 < run.count
                let reason = EndReason(rawValue: UInt8(truncatingIfNeeded: run.reason(i))) ?? .forced
                var f = i, r: Int? = paired ? i + 1 : nil
                if let other = r, !pairing.orientedFirst(FlowPairing.Words(run.key(f), keySize: run.keySize), pairing.times(run.record(f)).first,
                                                         FlowPairing.Words(run.key(other), keySize: run.keySize), pairing.times(run.record(other)).first) {
                    (f, r) = (other, f)
                }
                if run.valueSize >= decoder.recordSize {
                    batch.appendEntry(id: nextFlowID, endReason: reason,
                                      forwardKey: FlowKey(bytes: UnsafeRawBufferPointer(start: run.key(f), count: run.keySize)),
                                      reverseKey: r.map { FlowKey(bytes: UnsafeRawBufferPointer(start: run.key($0), count: run.keySize)) })
                    batch.appendValues(forward: run.record(f), reverse: r.map { run.record($0) }, decoder: decoder)
                    nextFlowID += 1
                }
                i += paired ? 2 : 1
                if batch.count >= max(exportBatch, 1) { flush() }
            }
            flush()
            if let failure { throw failure }
        }
    }

    /// Exports (or, when discarding, counts as lost) a batch of flows already out of the kernel.
    private func exportKernelBatch(_ batch: inout BiflowBatch) throws {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll() }
        if discarding {
            lostTotal += UInt64(batch.count)
            return
        }
        try deliver(batch)
    }
}
