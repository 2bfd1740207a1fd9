import Foundation
import FlowgenCore

/// A flow exporter that formats like the real one (JSON lines through `FlowFormatter`) and writes
/// the text to /dev/null, so the collector benchmark times formatting and the write system calls
/// but no disk.
final class NullFlowExporter: FlowExporter {
    let formatter: FlowFormatter
    let sink: FileHandle
    /// Flows formatted.
    private(set) var flows = 0
    /// Bytes of text produced.
    private(set) var bytes = 0
    /// Seconds spent formatting and writing, summed over batches.
    private(set) var formatSeconds = 0.0

    init(plan: Plan, format: OutputFormat = .json) throws {
        formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: format)
        guard let handle = FileHandle(forWritingAtPath: "/dev/null") else { throw BenchError.missingFile("/dev/null") }
        sink = handle
    }

    func export(_ batch: [Biflow]) throws {
        let started = Date()
        defer { formatSeconds += Date().timeIntervalSince(started) }
        let text = formatter.format(batch, epochOffsetNs: MonotonicClock.epochOffsetNs())
        let data = Data(text.utf8)
        sink.write(data)
        flows += batch.count
        bytes += data.count
    }

    func close() throws {
        try sink.close()
    }
}
