import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// `flowgen run --output` onto a real tmpfs that fills up, with real traffic on a veth pair.
@Suite(.serialized) struct DiskFullRunTests {
    /// Lines of the one flow file in `dir`, each checked whole; the file must end with a newline.
    func lines(_ dir: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("flows-") }
        guard let file = files.first else { return [] }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
        if !data.isEmpty { #expect(data.last == UInt8(ascii: "\n"), "the file ends inside a record", sourceLocation: sourceLocation) }
        return try data.split(separator: UInt8(ascii: "\n")).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any], "not a whole JSON line: \(String(decoding: $0, as: UTF8.self))",
                         sourceLocation: sourceLocation)
        }
    }

    @Test func aFullDiskLosesNoFlowItCanKeepAndTheSummaryCountsTheFile() throws {
        let lab = try OperationsLab(prefix: "fgfull")
        defer { lab.close() }
        let out = lab.work + "/out"
        mkdir(out, 0o755)
        try ProcessRunner.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", out]).check()
        defer { _ = try? ProcessRunner.run(["umount", out]) }
        try lab.addBlackhole()
        let log = lab.work + "/run.log"
        let monitor = try lab.spawnFlowgen(["run", "-i", lab.veth.nameA, "--features", "tcp", "--output", out,
                                            "--idle-timeout", "1", "--interval", "0.5", "--log", log])
        try lab.waitForAttach(monitor, log: log)
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        // 400 one-packet flows: some 40 lines fit in 16 KiB, so their batch fails whole
        #expect(try lab.python(lab.a, udpFlowSender, ["41000", "198.18.0.99", "1000", "400", "1", "400", "0"]) == "400")
        #expect(lab.wait(20) { logText().contains("writing flows to") }, "\(logText())")
        #expect(try lines(out).isEmpty, "a failed batch is cut back to the last whole record")
        // the disk gets room: the kept batch is written at a later pass, each flow once
        try ProcessRunner.run(["mount", "-o", "remount,size=4m", out]).check()
        #expect(try lab.wait(20) { try lines(out).count >= 400 }, "\(logText())")
        let before = try lines(out).count
        func sent(_ flows: [[String: Any]], _ ports: Range<Int>) -> [Int] {
            flows.filter { $0["IPV4_DST_ADDR"] as? String == "198.18.0.99" }.compactMap { $0["L4_DST_PORT"] as? Int }.filter(ports.contains)
        }
        let first = sent(try lines(out), 1000..<1400)
        #expect(first.count == 400 && Set(first) == Set(1000..<1400))

        // full again, for good: 200 more flows cannot be written, and are said to be lost
        _ = try? ProcessRunner.run(["dd", "if=/dev/zero", "of=" + out + "/filler", "bs=4096"])
        #expect(try lab.python(lab.a, udpFlowSender, ["41001", "198.18.0.99", "2000", "200", "1", "200", "0"]) == "200")
        #expect(lab.wait(20) { logText().components(separatedBy: "writing flows to").count >= 3 }, "\(logText())")
        monitor.terminate(grace: .seconds(20))
        #expect(monitor.wait(timeout: .seconds(30)) != 0, "flows were lost: the exit status must say so")
        let text = logText()
        // one message per episode of failure (two here), not one per pass
        #expect(text.components(separatedBy: "error: collector pass failed").count - 1 == 2, "\(text)")
        let final = try lines(out)
        #expect(final.count >= before)
        // the summary's count is the file's, and what could not be written is counted: the 200 new
        // flows are each either in the file (a few may fit in the last page the file had) or lost
        let summary = try #require(text.split(separator: "\n").last { $0.contains("flowgen: exported ") }, "\(text)")
        func number(before word: String) -> Int? {
            let words = summary.split(separator: " ")
            return words.indices.last { words[$0].hasPrefix(word) && $0 > 0 }.flatMap { Int(words[$0 - 1]) }
        }
        #expect(number(before: "flows,") == final.count, "\(summary)")
        // "...; 202 flows could not be written and are lost"
        let lost = try #require(Int(summary.split(separator: ";").last?.split(separator: " ").first ?? ""), "\(summary)")
        #expect(lost >= 1 && sent(final, 2000..<2200).count + lost >= 200, "\(summary)")
    }
}
