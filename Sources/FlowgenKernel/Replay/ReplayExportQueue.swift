import Foundation
import FlowgenCore

/// Hands exported batches to a background thread that formats and writes them, in order, so the
/// workers wait at a pass for the table work and for output only beyond `maxPending` batches
/// (which bounds the memory of a pass that ends many flows). `drain()` waits until everything
/// handed over is written; the first error of the inner exporter is rethrown by the next `export`,
/// `drain` or `close`.
final class ReplayExportQueue: FlowExporter, @unchecked Sendable {
    private let inner: FlowExporter
    private let condition = NSCondition()
    /// What was handed over and is not written yet: lists of flows, or batches in their flat storage.
    private enum Item {
        case flows([Biflow])
        case batch(BiflowBatch)
    }

    private var pending: [Item] = []
    private var busy = false
    private var stopping = false
    private var failure: (any Error)?
    private var thread: Thread?

    init(inner: FlowExporter) {
        self.inner = inner
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "flowgen-replay-export"
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return try hand(nil) }
        try hand(.flows(flows))
    }

    /// Hands the batch over as it is: the inner exporter formats it from its flat storage.
    func export(_ batch: BiflowBatch) throws {
        guard !batch.isEmpty else { return try hand(nil) }
        try hand(.batch(batch))
    }

    /// Batches waiting to be written at most: a pass (or the end of a capture) that exports more
    /// waits for the writer, so that the decoded flows it holds stay bounded (a few MB a batch)
    /// and their memory is reused instead of being mapped and page-faulted in anew for each.
    static let maxPending = 4

    /// Queues `item` (nil: only rethrows an earlier failure), waiting while `maxPending` wait.
    private func hand(_ item: Item?) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        guard let item else { return }
        while pending.count >= Self.maxPending && failure == nil && thread != nil { condition.wait() }
        if let failure { throw failure }
        pending.append(item)
        condition.broadcast()
    }

    /// Waits until every batch handed over has been written.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        while (!pending.isEmpty || busy) && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Drains, stops the thread and closes the inner exporter.
    func close() throws {
        defer { stop() }
        try drain()
        try inner.close()
    }

    /// Stops the background thread (idempotent); batches not yet written are dropped.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while thread != nil { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while pending.isEmpty && !stopping { condition.wait() }
            if stopping { break }
            let batch = pending.removeFirst()
            busy = true
            condition.unlock()
            var error: (any Error)?
            do {
                switch batch {
                case let .flows(flows): try inner.export(flows)
                case let .batch(flat): try inner.export(flat)
                }
            } catch let e { error = e }
            condition.lock()
            busy = false
            if let error, failure == nil { failure = error }
            condition.broadcast()
        }
        thread = nil
        condition.broadcast()
        condition.unlock()
    }
}
