import Foundation

/// Inserts flows into a ClickHouse table over HTTP as RowBinary, in batches bounded by rows and
/// by age. At start it asks the server's version, checks the table (or creates it with `create`),
/// and refuses a table of other columns. A batch the server does not take stays queued and is
/// sent again after a back-off, in order; past `maxQueuedBytes` the oldest batch is dropped and
/// counted, and at close what cannot be delivered within `closeWait` is counted and logged.
public final class ClickHouseExporter: FlowExporter {
    /// Batching and retry limits.
    public struct Options: Sendable {
        /// Rows per INSERT at most (a batch is sent when it has this many).
        public var batchRows = 100_000
        /// Seconds a row may wait for its batch to fill (checked whenever the collector hands flows over).
        public var maxDelay = 1.0
        /// Bytes of encoded rows kept while the server is unreachable.
        public var maxQueuedBytes = 256 << 20
        /// Seconds `close()` keeps trying to deliver what is queued.
        public var closeWait = 5.0
        /// Creates the defaults.
        public init() {}
    }

    /// What was delivered and lost, for the exit report and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Rows the server took.
        public var rowsInserted = 0
        /// INSERT requests that succeeded.
        public var inserts = 0
        /// INSERT requests that failed (and were retried or dropped).
        public var failedInserts = 0
        /// Rows given up on.
        public var rowsLost = 0
    }

    let client: ClickHouseHTTP
    /// The table's schema in the server's dialect.
    public let schema: ClickHouseSchema
    let options: Options
    let exporterID: [UInt8]
    let epochOffsetNs: () -> Int64
    let log: (String) -> Void
    let insertQuery: String
    /// Encoded rows not yet in a batch.
    var current: [UInt8] = []
    var currentRows = 0
    var currentSince: Double?
    /// Whole batches waiting to be sent, oldest first.
    var queue: [(bytes: [UInt8], rows: Int)] = []
    var queuedBytes = 0
    var retryAt = 0.0
    var backoff = 0.5
    var failing = false
    /// Counters so far.
    public private(set) var statistics = Statistics()

    /// Connects, checks or creates the table; fails with a message saying what to do.
    public init(plan: Plan, destination: ClickHouseDestination, exporterID: String, create: Bool, options: Options = Options(),
                epochOffsetNs: @escaping () -> Int64, log: @escaping (String) -> Void) throws {
        client = ClickHouseHTTP(destination: destination)
        let version = try client.query("SELECT version()").trimmingCharacters(in: .whitespacesAndNewlines)
        schema = try ClickHouseSchema(plan: plan, dialect: ClickHouseSchema.Dialect(serverVersion: version))
        self.options = options
        self.exporterID = Array(exporterID.utf8)
        self.epochOffsetNs = epochOffsetNs
        self.log = log
        let table = destination.qualifiedTable
        insertQuery = schema.insertQuery(table)
        let exists = try client.query("EXISTS TABLE \(table)").trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        if !exists {
            guard create else { throw ClickHouseError.tableMissing(table) }
            try client.query("CREATE DATABASE IF NOT EXISTS \(destination.database)")
            try client.query(schema.createTable(table))
            log("ClickHouse: created table \(table) on \(destination) (server \(version))")
        } else {
            let rows = try client.query("SELECT name, type FROM system.columns WHERE database = '\(destination.database)' AND table = '\(destination.table)' FORMAT TabSeparated")
            let columns = rows.split(separator: "\n").map { line -> (name: String, type: String) in
                let cells = line.split(separator: "\t", maxSplits: 1).map(String.init)
                return (cells[0], cells.count > 1 ? cells[1] : "")
            }
            let differences = schema.differences(from: columns)
            guard differences.isEmpty else { throw ClickHouseError.tableDiffers(table, differences) }
        }
    }

    /// Encodes the flows into the current batch; sends it when full or old enough.
    public func export(_ flows: [Biflow]) throws {
        guard !flows.isEmpty else { return pump() }
        schema.appendRowBinary(flows, exporterID: exporterID, epochOffsetNs: epochOffsetNs(), to: &current)
        added(flows.count)
    }

    /// Encodes the batch's flows straight from its storage.
    public func export(_ batch: BiflowBatch) throws {
        guard !batch.isEmpty else { return pump() }
        schema.appendRowBinary(batch, range: 0..<batch.count, exporterID: exporterID, epochOffsetNs: epochOffsetNs(), to: &current)
        added(batch.count)
    }

    private func added(_ rows: Int) {
        currentRows += rows
        if currentSince == nil { currentSince = Self.now() }
        pump()
    }

    /// Seals the current batch when due and sends what the back-off allows.
    func pump(force: Bool = false) {
        let now = Self.now()
        if currentRows > 0, force || currentRows >= options.batchRows || now - (currentSince ?? now) >= options.maxDelay {
            seal()
        }
        guard force || now >= retryAt else { return }
        while let first = queue.first {
            do {
                let response = try client.post(query: insertQuery, body: first.bytes)
                guard response.status == 200 else {
                    throw ClickHouseError.refused(client.destination.description, response.status, ClickHouseHTTP.firstLine(response.body))
                }
            } catch {
                statistics.failedInserts += 1
                if !failing { log("ClickHouse: insert of \(first.rows) flows failed, kept to send again: \(error)") }
                failing = true
                retryAt = Self.now() + backoff
                backoff = Swift.min(backoff * 2, 30)
                return
            }
            if failing { log("ClickHouse: inserting again after an outage (\(queue.count) batches queued)") }
            failing = false
            backoff = 0.5
            queue.removeFirst()
            queuedBytes -= first.bytes.count
            statistics.inserts += 1
            statistics.rowsInserted += first.rows
        }
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

    private func seal() {
        queue.append((current, currentRows))
        queuedBytes += current.count
        current = []
        currentRows = 0
        currentSince = nil
        while queuedBytes > options.maxQueuedBytes, queue.count > 1 {
            let dropped = queue.removeFirst()
            queuedBytes -= dropped.bytes.count
            statistics.rowsLost += dropped.rows
            log("ClickHouse: queue over \(options.maxQueuedBytes) bytes while the server is unreachable: \(dropped.rows) flows dropped")
        }
    }

    /// Sends what is queued, trying for up to `closeWait` seconds; what is left is counted as lost.
    public func close() throws {
        let deadline = Self.now() + options.closeWait
        pump(force: true)
        while !queue.isEmpty && Self.now() < deadline {
            Thread.sleep(forTimeInterval: Swift.min(0.5, Swift.max(0, deadline - Self.now())))
            pump(force: true)
        }
        let lost = queue.reduce(0) { $0 + $1.rows }
        statistics.rowsLost += lost
        queue.removeAll()
        queuedBytes = 0
        log("ClickHouse \(client.destination): \(statistics.rowsInserted) flows inserted in \(statistics.inserts) inserts, \(statistics.failedInserts) failed inserts, \(statistics.rowsLost) flows lost")
        if lost > 0 { throw ClickHouseError.unreachable(client.destination.description, "\(lost) flows could not be delivered before exit") }
    }
}
