import Foundation
import FlowgenKernel
import FlowgenTestSupport
import FlowgenCore

/// The end-to-end section's traffic source: `Templates/bench/afpacket_sender.c`, compiled natively
/// with the same clang as the BPF programs (cached by source digest) and run inside a namespace.
final class AFPacketSender {
    /// The compiled binary.
    let path: String

    /// Compiles the sender unless a binary of the same source is cached.
    init(compiler: ClangCompiler, templates: String) throws {
        let source = templates + "/afpacket_sender.c"
        guard let text = FileManager.default.contents(atPath: source) else { throw BenchError.missingFile(source) }
        let clang = try compiler.clangPath()
        let directory = compiler.cacheDirectory + "/bench"
        path = directory + "/afpacket_sender-" + String(SHA256.hex([UInt8](text) + Array(clang.utf8)).prefix(16))
        // the binary runs as root: only from a cache nobody else can write
        try compiler.prepareCacheDirectory()
        if FileManager.default.isExecutableFile(atPath: path) {
            do {
                try PathTrust.invokingUser.check(path, is: .file)
            } catch let untrusted as PathTrust.Untrusted {
                throw KernelError.untrustedCache(path: path, reason: untrusted.description)
            }
            return
        }
        try ClangCompiler.makeDirectory(directory)
        let temporary = path + ".tmp-\(getpid())"
        let result = try ProcessRunner.run([clang, "-O2", "-Wall", "-o", temporary, source], timeout: .seconds(120))
        guard result.succeeded else { throw BenchError.helperCompileFailed(result.stderr) }
        guard rename(temporary, path) == 0 else { throw BenchError.helperCompileFailed("rename to \(path) failed") }
    }

    /// Writes frames in the sender's format: u32 count, u32 length, then the frames (all one length).
    static func writeFrames(_ frames: [[UInt8]], to path: String) throws {
        precondition(!frames.isEmpty && frames.allSatisfy { $0.count == frames[0].count }, "frames of one length")
        var data = Data()
        withUnsafeBytes(of: UInt32(frames.count)) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(frames[0].count)) { data.append(contentsOf: $0) }
        for frame in frames { data.append(contentsOf: frame) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Starts sending `frames` out of `interface` in `namespace` for `seconds`, pinned to `cpu`.
    func start(in namespace: NetworkNamespace, interface: String, frames: String, seconds: Double, cpu: Int) throws -> SpawnedProcess {
        try namespace.spawn([path, interface, frames, String(seconds), String(cpu)])
    }

    /// Frames the sender reported, from its output ("sent N frames in S seconds").
    static func reportedFrames(_ output: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("sent ") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
    }
}
