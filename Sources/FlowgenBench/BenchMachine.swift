import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// The machine a run happened on, as BENCHMARKS.md names it.
public struct BenchMachine: Codable, Sendable {
    /// `uname -r`.
    public var kernel: String
    /// `model name` from /proc/cpuinfo.
    public var cpu: String
    /// Online CPUs.
    public var cpus: Int
    /// Total memory in bytes (MemTotal).
    public var memoryBytes: UInt64
    /// `clang --version`, first line.
    public var clang: String
    /// flowgen's version.
    public var flowgen: String
    /// When the run started (ISO 8601, UTC).
    public var date: String
    /// "release" or "debug": how flowgen itself was compiled (a debug build's userland is many times slower).
    public var build: String

    /// How this binary was compiled, decided at compile time (SwiftPM defines DEBUG in debug builds),
    /// so neither configuration compiles a branch it can never take.
    static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// Reads the current machine.
    public static func current(compiler: ClangCompiler) -> BenchMachine {
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let kb = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { UInt64($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var clang = "unknown"
        if let path = try? compiler.clangPath(), let result = try? ProcessRunner.run([path, "--version"]) {
            clang = String(result.stdout.split(separator: "\n").first ?? "")
        }
        return BenchMachine(kernel: release, cpu: model, cpus: ProcessInfo.processInfo.activeProcessorCount,
                            memoryBytes: kb * 1024, clang: clang, flowgen: FlowgenVersion.string,
                            date: ISO8601DateFormatter().string(from: Date()),
                            build: buildConfiguration)
    }
}
