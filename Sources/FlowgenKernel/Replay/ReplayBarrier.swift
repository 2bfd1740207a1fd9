import Foundation

/// A reusable barrier for the replay workers. The last worker to arrive runs the barrier's action
/// (a collector pass, the end-of-file bookkeeping) while the others wait, so the flow table is
/// read only when every worker has run its packets up to the same point of the capture.
/// A failure aborts it: waiting workers are released and later arrivals return at once.
final class ReplayBarrier: @unchecked Sendable {
    private let parties: Int
    private let condition = NSCondition()
    private var arrived: [ReplayCheckpoint] = []
    private var generation = 0
    private var failure: (any Error)?

    init(parties: Int) {
        precondition(parties > 0)
        self.parties = parties
    }

    /// The error that aborted the barrier, if any.
    var error: (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Stops every worker with `error` (the first error wins).
    func abort(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every worker has arrived; the last one runs `action` with all checkpoints first.
    /// Returns false when the replay was aborted (by `action` throwing or by `abort`).
    func arrive(_ checkpoint: ReplayCheckpoint, action: ([ReplayCheckpoint]) throws -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if failure != nil { return false }
        arrived.append(checkpoint)
        if arrived.count == parties {
            let all = arrived
            arrived.removeAll(keepingCapacity: true)
            do {
                try action(all)
            } catch {
                if failure == nil { failure = error }
            }
            generation &+= 1
            condition.broadcast()
            return failure == nil
        }
        let mine = generation
        while generation == mine && failure == nil {
            condition.wait()
        }
        return failure == nil
    }
}
