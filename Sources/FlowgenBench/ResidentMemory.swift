import Foundation
import FlowgenKernel
import FlowgenTestSupport

/// This process's resident memory from /proc/self/status, and a way to restart its peak.
enum ResidentMemory {
    /// VmRSS in bytes.
    static func current() -> Int { field("VmRSS:") }

    /// VmHWM (peak resident set since start or the last `resetPeak`) in bytes.
    static func peak() -> Int { field("VmHWM:") }

    /// Restarts VmHWM at the current VmRSS (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0), so a
    /// pass's peak can be read on its own.
    static func resetPeak() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }

    private static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
              let kb = Int(line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") else { return 0 }
        return kb * 1024
    }
}
