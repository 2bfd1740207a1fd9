import FlowgenCore
import Logging
import Foundation

/// Inserts flows into a ClickHouse table over HTTP as RowBinary, in batches bounded by rows and
/// by age. At start it asks the server's version, checks the table (or creates it with `create`),
/// and refuses a table of other columns. A sender thread does the inserts, so a slow or absent
/// server never holds up the collector: batches wait in a bounded memory queue, and when an insert
/// fails every queued batch moves to the spool on disk, where new batches follow until the server
/// takes the spool back, oldest first, after a back-off (0.5 s doubling to 30 s). A batch the server
/// refuses 5 times in a row (not an outage: an answer) is given up, as is one the full spool cannot
/// take; both are counted, logged and in the metrics. At close it waits `closeWait` for the queue to
/// drain, then leaves the rest in the spool for the next run.
public final class ClickHouseExporter: FlowExporter, @unchecked Sendable {
    /// Batching, queue and retry limits.
    public struct Options: Sendable {
        /// Rows per INSERT at most (a batch is sent when it has this many).
        public var batchRows = 100_000
        /// Seconds a row may wait for its batch to fill.
        public var maxDelay = 1.0
        /// Bytes of encoded rows kept in memory; past it the queue moves to the spool.
        public var maxQueuedBytes = 64 << 20
        /// Seconds `close()` waits for the queue to drain before leaving it to the spool.
        public var closeWait = 5.0
        /// Refusals of one batch (answers, not outages) before it is given up.
        public var maxRefusals = 5
        /// Creates the defaults.
        public init() {}
    }

    /// What was delivered, kept and lost, for the exit report and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Rows the server took.
        public var rowsInserted = 0
        /// INSERT requests that succeeded.
        public var inserts = 0
        /// INSERT requests that failed (and were retried or given up).
        public var failedInserts = 0
        /// Rows given up on.
        public var rowsLost = 0
        /// Rows in the spool now.
        public var rowsSpooled = 0
    }

    let client: ClickHouseHTTP
    /// The table's schema in the server's dialect.
    public let schema: ClickHouseSchema
    let options: Options
    let exporterID: [UInt8]
    let epochOffsetNs: () -> Int64
    let log: Logger
    let metrics: CollectorMetrics?
    let insertQuery: String
    let spool: ClickHouseSpool
    /// Guards everything below; the sender waits on it.
    let condition = NSCondition()
    /// Encoded rows not yet in a batch.
    var current: [UInt8] = []
    var currentRows = 0
    var currentSince: Double?
    /// Whole batches waiting to be sent, oldest first; empty whenever the spool is not.
    var queue: [(bytes: [UInt8], rows: Int)] = []
    var queuedBytes = 0
    var retryAt = 0.0
    var backoff = 0.5
    var failing = false
    var refusals = 0
    var closing = false
    /// Set by `close()` at its deadline: the sender stops after the insert under way.
    var stopSending = false
    var senderDone = false
    /// Counters so far.
    public private(set) var statistics = Statistics()

    /// Connects, checks or creates the table, opens the spool (`spoolDirectory`, at most
    /// `spoolBytes`) and starts the sender; fails with a message saying what to do.
    public init(plan: Plan, destination: ClickHouseDestination, exporterID: String, create: Bool, spoolDirectory: String,
                spoolBytes: Int, options: Options = Options(), metrics: CollectorMetrics? = nil,
                epochOffsetNs: @escaping () -> Int64, log: Logger) throws {
        client = ClickHouseHTTP(destination: destination)
        let version = try client.query("SELECT version()").trimmingCharacters(in: .whitespacesAndNewlines)
        schema = try ClickHouseSchema(plan: plan, dialect: ClickHouseSchema.Dialect(serverVersion: version))
        self.options = options
        self.exporterID = Array(exporterID.utf8)
        self.epochOffsetNs = epochOffsetNs
        self.log = log
        self.metrics = metrics
        let table = destination.qualifiedTable
        insertQuery = schema.insertQuery(table)
        let exists = try client.query("EXISTS TABLE \(table)").trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        if !exists {
            guard create else { throw ClickHouseError.tableMissing(table) }
            try client.query("CREATE DATABASE IF NOT EXISTS \(destination.database)")
            try client.query(schema.createTable(table))
            log.info("ClickHouse: created table \(table) on \(destination) (server \(version))")
        } else {
            let rows = try client.query("SELECT name, type FROM system.columns WHERE database = '\(destination.database)' AND table = '\(destination.table)' FORMAT TabSeparated")
            let columns = rows.split(separator: "\n").map { line -> (name: String, type: String) in
                let cells = line.split(separator: "\t", maxSplits: 1).map(String.init)
                return (cells[0], cells.count > 1 ? cells[1] : "")
            }
            let differences = schema.differences(from: columns)
            guard differences.isEmpty else { throw ClickHouseError.tableDiffers(table, differences) }
        }
        spool = try ClickHouseSpool(directory: spoolDirectory, maxBytes: spoolBytes)
        statistics.rowsSpooled = spool.rows
        if !spool.isEmpty { log.info("ClickHouse: \(spool.rows) flows of an earlier run in the spool \(spool.directory), sent first") }
        let thread = Thread { [self] in sender() }
        thread.name = "flowgen-clickhouse"
        thread.start()
    }

    /// The spool folder of a destination under `root`: one per server and table, so batches never
    /// go to a table of other columns.
    public static func spoolDirectory(root: String, destination: ClickHouseDestination) -> String {
        let name = "\(destination.qualifiedTable)@\(destination.host)_\(destination.port)".map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-" || c == "@") ? c : "_"
        }
        return root + "/" + String(name)
    }

    /// Encodes the flows into the current batch; seals it when full.
    public func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return }
        let offset = epochOffsetNs()
        condition.withLock {
            schema.appendRowBinary(flows, exporterID: exporterID, epochOffsetNs: offset, to: &current)
            added(flows.count)
        }
    }

    /// Encodes the batch's flows straight from its storage.
    public func export(_ batch: BiflowBatch) throws {
        guard !batch.isEmpty else { return }
        let offset = epochOffsetNs()
        condition.withLock {
            schema.appendRowBinary(batch, range: 0..<batch.count, exporterID: exporterID, epochOffsetNs: offset, to: &current)
            added(batch.count)
        }
    }

    /// Under the lock: counts new rows, seals a full batch.
    private func added(_ rows: Int) {
        currentRows += rows
        if currentSince == nil { currentSince = Self.now() }
        if currentRows >= options.batchRows { seal() }
    }

    /// Under the lock: the current rows become a batch at the end of the queue, or of the spool
    /// while it holds anything (so order is kept); a full memory queue moves to the spool.
    func seal() {
        guard currentRows > 0 else { return }
        let batch = (bytes: current, rows: currentRows)
        current = []
        currentRows = 0
        currentSince = nil
        if spool.isEmpty && !failing {
            queue.append(batch)
            queuedBytes += batch.bytes.count
            if queuedBytes > options.maxQueuedBytes { moveQueueToSpool() }
        } else {
            toSpool(batch)
        }
        condition.signal()
    }

    /// Under the lock: one batch to the spool, or counted lost when it is full or unwritable.
    private func toSpool(_ batch: (bytes: [UInt8], rows: Int)) {
        do {
            if try spool.append(query: insertQuery, rows: batch.rows, body: batch.bytes) {
                statistics.rowsSpooled += batch.rows
                return
            }
            lose(batch.rows, "the spool \(spool.directory) is full (\(spool.maxBytes) bytes; --clickhouse-spool-max)")
        } catch {
            lose(batch.rows, "\(error)")
        }
    }

    /// Under the lock: every memory batch to the spool, oldest first.
    private func moveQueueToSpool() {
        let batches = queue
        queue.removeAll()
        queuedBytes = 0
        for batch in batches { toSpool(batch) }
    }

    /// Under the lock: gives up `rows` flows, logged and counted.
    private func lose(_ rows: Int, _ why: String) {
        statistics.rowsLost += rows
        log.error("error: ClickHouse: \(rows) flows lost: \(why)")
        publish()
    }

    /// Under the lock: the counters into the collector's metrics.
    private func publish() {
        let stats = statistics
        metrics?.update {
            $0.sinkFlowsLost = UInt64(stats.rowsLost)
            $0.sinkFlowsSpooled = stats.rowsSpooled
            $0.sinkRowsInserted = UInt64(stats.rowsInserted)
        }
    }

    /// The sender thread: seals batches that are old enough, sends the oldest batch (spool first),
    /// backs off after a failure; ends when closing and nothing more can be sent now.
    private func sender() {
        condition.lock()
        defer {
            senderDone = true
            condition.broadcast()
            condition.unlock()
        }
        while true {
            let now = Self.now()
            if let since = currentSince, now - since >= options.maxDelay || closing { seal() }
            let hasWork = !spool.isEmpty || !queue.isEmpty
            if closing && (!hasWork || stopSending) { return }
            if !hasWork || now < retryAt {
                let wake = Swift.min(hasWork ? retryAt : now + options.maxDelay, currentSince.map { $0 + options.maxDelay } ?? .infinity)
                _ = condition.wait(until: Date(timeIntervalSinceNow: Swift.max(0.01, Swift.min(wake, now + options.maxDelay) - now)))
                continue
            }
            // the oldest batch: the spool's, else the queue's (which is empty while the spool is not)
            let fromSpool = !spool.isEmpty
            let batch: (query: String, rows: Int, body: [UInt8])
            if fromSpool {
                do {
                    guard let oldest = try spool.oldest() else { continue }
                    batch = (oldest.query, oldest.rows, oldest.body)
                } catch {
                    log.error("error: ClickHouse: a spool batch is unreadable and was removed: \(error)")
                    spool.removeOldest()
                    continue
                }
            } else {
                batch = (insertQuery, queue[0].rows, queue[0].bytes)
            }
            condition.unlock()
            var outcome: Result<Void, Error> = .success(())
            var answered = false
            do {
                let response = try client.post(query: batch.query, body: batch.body)
                answered = true
                if response.status != 200 {
                    throw ClickHouseError.refused(client.destination.description, response.status, ClickHouseHTTP.firstLine(response.body))
                }
            } catch {
                outcome = .failure(error)
            }
            condition.lock()
            switch outcome {
            case .success:
                if fromSpool {
                    spool.removeOldest()
                    statistics.rowsSpooled -= batch.rows
                } else {
                    queuedBytes -= queue.removeFirst().bytes.count
                }
                if failing { log.info("ClickHouse: inserting again after an outage (\(spool.rows) flows still in the spool)") }
                failing = false
                refusals = 0
                backoff = 0.5
                statistics.inserts += 1
                statistics.rowsInserted += batch.rows
            case let .failure(error):
                statistics.failedInserts += 1
                refusals = answered ? refusals + 1 : 0
                if answered && refusals >= options.maxRefusals {
                    // the server is up and keeps refusing this batch: it will not take it later either
                    if fromSpool { spool.removeOldest(); statistics.rowsSpooled -= batch.rows } else { queuedBytes -= queue.removeFirst().bytes.count }
                    refusals = 0
                    lose(batch.rows, "refused \(options.maxRefusals) times: \(error)")
                    continue
                }
                if !failing { log.warning("ClickHouse: insert of \(batch.rows) flows failed, kept in the spool \(spool.directory) to send again: \(error)") }
                failing = true
                moveQueueToSpool()
                retryAt = Self.now() + backoff
                backoff = Swift.min(backoff * 2, 30)
            }
            publish()
        }
    }

    /// Seals the last rows, waits up to `closeWait` for the queue and spool to drain, then leaves
    /// what is left in the spool for the next run; logs the counts.
    public func close() throws {
        condition.lock()
        closing = true
        seal()
        let deadline = Date(timeIntervalSinceNow: options.closeWait)
        condition.broadcast()
        while !senderDone && Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        if !senderDone {
            // still sending or waiting to retry: stop after this insert, and keep the rest on disk
            stopSending = true
            condition.broadcast()
            while !senderDone { _ = condition.wait(until: Date(timeIntervalSinceNow: 1)) }
        }
        moveQueueToSpool()
        publish()
        let stats = statistics
        condition.unlock()
        let line = "ClickHouse \(client.destination): \(stats.rowsInserted) flows inserted in \(stats.inserts) inserts, \(stats.failedInserts) failed inserts, "
            + "\(stats.rowsSpooled) flows left in the spool \(spool.directory) for the next run, \(stats.rowsLost) flows lost"
        log.info("\(line)")
    }

    /// Monotonic seconds.
    static func now() -> Double { Double(MonotonicClock.nowNs()) / 1e9 }

    /// The default exporter identity: the host name (what `hostname` prints), readable in queries.
    public static func defaultExporterID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "unknown" }
        let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "unknown" : text
    }

}
