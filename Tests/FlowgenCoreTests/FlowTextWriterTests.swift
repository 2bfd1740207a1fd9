import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// The write side of the byte path: headers, batches larger than one write, non-blocking
/// descriptors, errors, and the dated files of `TextFlowExporter`.
@Suite struct FlowTextWriterTests {
    let plan: Plan
    init() throws { plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp,icmp") }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "fgtest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func aBatchLargerThanOneWriteArrivesWhole() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .csv)
        let flows = randomFlows(plan, count: 30_000, seed: 11)
        // the writer's job is to deliver the formatter's bytes whole (the bytes themselves are
        // checked against hand-worked vectors in FormatterBytesTests)
        let expected = formatter.header() + formatter.format(flows, epochOffsetNs: 5)
        #expect(expected.utf8.count > FlowTextWriter.flushThreshold, "the batch must need more than one write")
        let path = dir + "/out.csv"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let written = try FlowTextWriter(formatter: formatter).write(flows, epochOffsetNs: 5, prefix: formatter.header(), to: fd)
        close(fd)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written == expected.utf8.count)
        #expect(text == expected)
    }

    @Test func aNonBlockingPipeIsWaitedFor() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .json)
        let flows = randomFlows(plan, count: 3000, seed: 12)
        // the reader drains slowly, so the writer meets a full pipe (EAGAIN) many times
        let readEnd = fds[0]
        let box = ReaderBox()
        let reader = Thread {
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                received += chunk[..<n]
                usleep(50)
            }
            box.set(received)
        }
        reader.start()
        try FlowTextWriter(formatter: formatter).write(flows, epochOffsetNs: 0, to: fds[1])
        close(fds[1])
        let received = box.wait()
        close(fds[0])
        #expect(received == formatter.formatBytes(flows, epochOffsetNs: 0))
    }

    @Test func aFailedWriteThrows() throws {
        let fd = open("/dev/null", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let writer = FlowTextWriter(formatter: FlowFormatter(schema: OutputSchema(plan: plan), format: .json))
        #expect(throws: ExportError.self) { try writer.write(randomFlows(plan, count: 3, seed: 13), epochOffsetNs: 0, to: fd) }
    }

    @Test func datedFilesGetTheHeaderOnce() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .csv)
        let exporter = try TextFlowExporter(formatter: formatter, destination: .directory(dir), epochOffsetNs: { 0 })
        let first = randomFlows(plan, count: 50, seed: 14), second = randomFlows(plan, count: 70, seed: 15)
        try exporter.export(first)
        try exporter.export([])
        try exporter.export(second)
        try exporter.close()
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.count == 1 && files[0].hasPrefix("flows-") && files[0].hasSuffix(".csv"))
        let text = try String(contentsOfFile: dir + "/" + files[0], encoding: .utf8)
        #expect(text == formatter.header() + formatter.format(first, epochOffsetNs: 0) + formatter.format(second, epochOffsetNs: 0))
    }
}

/// Hands the pipe reader's bytes to the test.
final class ReaderBox: @unchecked Sendable {
    let condition = NSCondition()
    var bytes: [UInt8]?

    func set(_ b: [UInt8]) {
        condition.lock()
        bytes = b
        condition.signal()
        condition.unlock()
    }

    func wait() -> [UInt8] {
        condition.lock()
        defer {
            bytes = nil
            condition.unlock()
        }
        while bytes == nil { condition.wait() }
        return bytes!
    }
}
