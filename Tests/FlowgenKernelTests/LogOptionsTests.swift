import Foundation
import Testing
@testable import FlowgenKernel
import FlowgenTestSupport

/// What `--log`, `-q` and `-v` say, through the swift-log handler of the command line: every line
/// stamped with the UTC time and "flowgen:", progress hidden by -q, details shown by -v only.
@Suite struct LogOptionsTests {
    @Test func quietDefaultAndVerboseWriteTheLinesTheySay() throws {
        let flowgen = try flowgenBinary()
        let folder = NSTemporaryDirectory() + "fs-log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let capture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Captures/tcpdump-tests/02-sunrise-sunset-esp.pcap").path
        func lines(_ option: String?) throws -> [String] {
            let log = folder + "/\(option ?? "default").log"
            let r = try ProcessRunner.run([flowgen, "replay", capture, "--output", folder + "/flows-\(option ?? "default")", "--log", log] + (option.map { [$0] } ?? []),
                                          timeout: .seconds(300))
            #expect(r.succeeded, "\(r.stderr)")
            return (try String(contentsOfFile: log, encoding: .utf8)).split(separator: "\n").map(String.init)
        }
        let stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ flowgen: \S/
        let normal = try lines(nil), verbose = try lines("-v"), quiet = try lines("-q")
        for line in normal + verbose + quiet { #expect(line.contains(stamp), "\(line)") }
        // progress ("built ...", "replayed ..."): default and -v; details ("packets run in"): -v only
        #expect(normal.contains { $0.contains("flowgen: replayed ") } && !normal.contains { $0.contains("packets run in") }, "\(normal)")
        #expect(verbose.contains { $0.contains("flowgen: replayed ") } && verbose.contains { $0.contains("packets run in") }, "\(verbose)")
        #expect(quiet.isEmpty, "\(quiet)")
    }
}
