import Foundation
import Testing
@testable import FlowgenKernel
import FlowgenTestSupport

/// The cache key's SHA-256 against coreutils' `sha256sum` over every length around the block and
/// padding boundaries (55, 56, 63, 64, 119, 120 bytes are where the length field spills into another
/// block) and a few long inputs; FIPS 180-2's own examples are in `KernelSHA256Tests`.
@Suite struct SHA256OracleTests {
    @Test func matchesSha256sumAcrossBlockBoundaries() throws {
        let folder = NSTemporaryDirectory() + "fs-sha-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var random = SplitMix64(seed: 0x5A256)
        let lengths = Array(0...192) + [255, 256, 1000, 4095, 4096, 65_537, 1_000_003]
        var expected: [String: String] = [:]
        for length in lengths {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let name = "m\(length)"
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
            expected[name] = SHA256.hex(bytes)
        }
        let run = try ProcessRunner.run(["sha256sum"] + lengths.map { folder + "/m\($0)" }, timeout: .seconds(60)).check()
        var checked = 0
        for line in run.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            let name = String(parts[1].split(separator: "/").last!)
            #expect(expected[name] == String(parts[0]), "\(name)")
            checked += 1
        }
        #expect(checked == lengths.count)
    }
}
