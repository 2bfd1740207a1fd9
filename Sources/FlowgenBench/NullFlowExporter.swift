import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// A flow exporter that formats and writes like the real one (JSON lines through `FlowTextWriter`,
/// the byte path of `TextFlowExporter`) to /dev/null, so the collector benchmark times formatting
/// and the write system calls but no disk.
final class NullFlowExporter: FlowExporter {
    let writer: FlowTextWriter
    let sink: FileHandle
    /// Flows formatted.
    private(set) var flows = 0
    /// Bytes of text produced.
    private(set) var bytes = 0
    /// Seconds spent formatting and writing, summed over batches.
    private(set) var formatSeconds = 0.0

    init(plan: Plan, format: OutputFormat = .json) throws {
        writer = FlowTextWriter(formatter: FlowFormatter(schema: OutputSchema(plan: plan), format: format))
        guard let handle = FileHandle(forWritingAtPath: "/dev/null") else { throw BenchError.missingFile("/dev/null") }
        sink = handle
    }

    func export(_ batch: [Biflow]) throws {
        let started = Date()
        defer { formatSeconds += Date().timeIntervalSince(started) }
        bytes += try writer.write(batch, epochOffsetNs: MonotonicClock.epochOffsetNs(), to: sink.fileDescriptor)
        flows += batch.count
    }

    func export(_ batch: BiflowBatch) throws {
        let started = Date()
        defer { formatSeconds += Date().timeIntervalSince(started) }
        bytes += try writer.write(batch, epochOffsetNs: MonotonicClock.epochOffsetNs(), to: sink.fileDescriptor)
        flows += batch.count
    }

    func close() throws {
        try sink.close()
    }
}
