import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// Damaged, truncated and hostile captures end in one-line errors with the byte offset, after the
/// packets before the damage; never a crash, a hang or an allocation sized by a bogus length.
@Suite struct CaptureDamageTests {
    /// Reads until the end or an error; returns the packets read and the error.
    func drain(_ bytes: [UInt8]) -> (packets: Int, error: CaptureError?) {
        let r = read(bytes)
        if let problem = r.problem { Issue.record(Comment(rawValue: problem)) }
        return (r.packets, r.error)
    }

    /// `drain` without recording: what went wrong is returned, for callers on threads of their own.
    func read(_ bytes: [UInt8]) -> (packets: Int, error: CaptureError?, problem: String?) {
        do {
            let reader = try CaptureReader(bytes: bytes, name: "bad.cap")
            var n = 0
            while try reader.next() != nil {
                n += 1
                if n > 1_000_000 { return (n, nil, "runaway reader") }
            }
            return (n, nil, nil)
        } catch let error as CaptureError {
            return (-1, error, nil)
        } catch {
            return (-1, nil, "unexpected error type: \(error)")
        }
    }

    /// Like `drain`, but counts the packets returned before an error.
    func packetsBeforeError(_ bytes: [UInt8]) -> (Int, CaptureError?) {
        guard let reader = try? CaptureReader(bytes: bytes, name: "bad.cap") else { return (0, drain(bytes).error) }
        var n = 0
        do {
            while try reader.next() != nil { n += 1 }
            return (n, nil)
        } catch let error as CaptureError {
            return (n, error)
        } catch {
            return (n, nil)
        }
    }

    func pcap(_ frames: Int = 3) throws -> [UInt8] {
        let w = PcapWriter()
        for i in 0..<frames { try w.append(CaptureFixtures.frames[i % 3], timestampNs: CaptureFixtures.t0 + UInt64(i)) }
        return w.bytes
    }

    func expectDamaged(_ error: CaptureError?, at offset: UInt64, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case let .damaged(path, at, reason) = error else {
            Issue.record("expected damage at \(offset), got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(path == "bad.cap", sourceLocation: sourceLocation)
        #expect(at == offset, "\(reason)", sourceLocation: sourceLocation)
        #expect(reason.contains(text), "\(reason)", sourceLocation: sourceLocation)
        #expect(!error!.description.contains("\n") && error!.description.hasPrefix("bad.cap: damaged capture at byte \(offset): "),
                sourceLocation: sourceLocation)
    }

    @Test func emptyShortAndForeignFiles() {
        expectDamaged(drain([]).error, at: 0, "0 bytes long")
        expectDamaged(drain([0xD4, 0xC3]).error, at: 0, "2 bytes long")
        expectDamaged(drain([0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0]).error, at: 0, "inside the 24-byte pcap header")
        #expect(drain(Array("GET / HTTP/1.1\r\n".utf8)).error == .notACapture(path: "bad.cap", magic: 0x4745_5420))
        #expect(drain(Array("GET / HTTP/1.1\r\n".utf8)).error?.description == "bad.cap: not a pcap or pcapng file (magic 0x47455420 at byte 0)")
        var v1 = try! pcap(0)
        v1[4] = 1
        expectDamaged(drain(v1).error, at: 4, "pcap version 1.4")
    }

    @Test func aPcapCutShortKeepsThePacketsBeforeTheCut() throws {
        let whole = try pcap()
        let second = 24 + 16 + CaptureFixtures.frames[0].count
        let third = second + 16 + CaptureFixtures.frames[1].count
        // cut inside the third record's data and inside its header
        var (n, error) = packetsBeforeError(Array(whole[..<(third + 16 + 10)]))
        #expect(n == 2)
        expectDamaged(error, at: UInt64(third), "inside packet 3 (10 of \(CaptureFixtures.frames[2].count) captured bytes)")
        (n, error) = packetsBeforeError(Array(whole[..<(third + 7)]))
        #expect(n == 2)
        expectDamaged(error, at: UInt64(third), "inside the header of packet 3 (7 of 16 bytes)")
        // cut exactly at a record boundary: a clean end
        (n, error) = packetsBeforeError(Array(whole[..<third]))
        #expect(n == 2 && error == nil)
    }

    @Test func aHugeCapturedLengthIsRefusedBeforeAnyAllocation() throws {
        var bytes = try pcap(2)
        let second = 24 + 16 + CaptureFixtures.frames[0].count
        bytes.replaceSubrange((second + 8)..<(second + 12), with: [0xFF, 0xFF, 0xFF, 0xFF])
        let (n, error) = packetsBeforeError(bytes)
        #expect(n == 1)
        expectDamaged(error, at: UInt64(second), "claims 4294967295 captured bytes")
    }

    func pcapng() -> PcapngWriter {
        let w = PcapngWriter()
        w.interface(linkType: .ethernet)
        w.enhancedPacket(interface: 0, timestampNs: CaptureFixtures.t0, CaptureFixtures.frames[0])
        return w
    }

    @Test func damagedPcapngBlocks() {
        let good = pcapng().bytes
        let epb = good.count - (12 + 20 + 56)  // offset of the enhanced packet block (54-byte frame padded to 56)
        #expect(packetsBeforeError(good).0 == 1)

        func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var b = good
            withUnsafeBytes(of: value.littleEndian) { b.replaceSubrange(offset..<(offset + 4), with: $0) }
            return b
        }
        expectDamaged(drain(patched(epb + 4, 90)).error, at: UInt64(epb + 4), "not a multiple of 4")
        expectDamaged(drain(patched(epb + 4, 8)).error, at: UInt64(epb + 4), "shorter than the 32 bytes")
        expectDamaged(drain(patched(epb + 4, 0xFFFF_FFF0)).error, at: UInt64(epb + 4), "exceeds the 16777216-byte limit")
        expectDamaged(drain(patched(epb + 4, 200)).error, at: UInt64(epb), "ends inside the enhanced packet block (88 of 200 bytes)")
        expectDamaged(drain(patched(good.count - 4, 84)).error, at: UInt64(good.count - 4), "ends with length 84, but starts with 88")
        expectDamaged(drain(patched(epb + 20, 57)).error, at: UInt64(epb + 20), "claims 57 captured bytes but holds 56")
        expectDamaged(drain(patched(epb + 8, 3)).error, at: UInt64(epb + 8), "refers to interface 3, but its section describes 1")
        expectDamaged(drain(patched(8, 0x1122_3344)).error, at: 8, "byte-order magic")
        var v2 = good
        v2[12] = 2
        expectDamaged(drain(v2).error, at: 12, "pcapng version 2.0")
        expectDamaged(drain(Array(good[..<(epb + 6)])).error, at: UInt64(epb), "inside a block header (6 of 8 bytes)")

        let orphan = PcapngWriter()
        let sectionEnd = UInt64(orphan.bytes.count)
        orphan.simplePacket(CaptureFixtures.frames[0])
        expectDamaged(drain(orphan.bytes).error, at: sectionEnd, "simple packet block before any interface description block")

        // an option whose length runs past its block
        let opt = PcapngWriter()
        opt.block(1, [1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0x40, 0, 6, 0, 0, 0])
        expectDamaged(drain(opt.bytes).error, at: sectionEnd + 16, "option 9 of 64 bytes runs past the end of its block")
        let fine = PcapngWriter()
        fine.interface(linkType: .ethernet, tsresol: 30)
        expectDamaged(drain(fine.bytes).error, at: sectionEnd, "timestamp resolution 10^-30")
    }

    @Test func unsupportedLinkTypesAreNamed() throws {
        let w = PcapWriter(linkType: CaptureLinkType(rawValue: 195))
        try w.append([1, 2, 3], timestampNs: 0)
        let error = drain(w.bytes).error
        #expect(error == .unsupportedLinkType(path: "bad.cap", linkType: CaptureLinkType(rawValue: 195)))
        #expect(error?.description.hasPrefix("bad.cap: link type 195 (IEEE 802.15.4) is not supported") == true)

        let ng = pcapng()
        ng.interface(linkType: CaptureLinkType(rawValue: 189))
        ng.enhancedPacket(interface: 0, timestampNs: CaptureFixtures.t0, CaptureFixtures.frames[1])
        let (n, ngError) = packetsBeforeError(ng.bytes)
        #expect(n == 1)
        #expect(ngError?.description.contains("link type 189 (USB (Linux))") == true)
    }

    @Test func everyTruncationOfAPcapngEndsCleanlyOrWithAnError() {
        let w = PcapngWriter()
        var boundaries: Set<Int> = [w.bytes.count]
        w.interface(linkType: .ethernet)
        boundaries.insert(w.bytes.count)
        w.enhancedPacket(interface: 0, timestampNs: CaptureFixtures.t0, CaptureFixtures.frames[0])
        boundaries.insert(w.bytes.count)
        w.simplePacket(CaptureFixtures.frames[1])
        boundaries.insert(w.bytes.count)
        w.section(bigEndian: true)
        boundaries.insert(w.bytes.count)
        w.interface(linkType: .raw, tsresol: 9)
        boundaries.insert(w.bytes.count)
        w.enhancedPacket(interface: 0, timestampNs: CaptureFixtures.t0, Array(CaptureFixtures.frames[2][14...]))
        let bytes = w.bytes
        for cut in 0..<bytes.count {
            let (n, error) = packetsBeforeError(Array(bytes[..<cut]))
            // a cut at a block boundary after the first section header is a clean (shorter) file
            #expect((error == nil) == boundaries.contains(cut), "cut at \(cut): \(String(describing: error))")
            #expect(n <= 2)
        }
        #expect(packetsBeforeError(bytes).0 == 3)
    }

    @Test func randomCorruptionNeverCrashesOrHangs() throws {
        var generator = SplitMix64(seed: 0xF10E)
        let pcapBase = try pcap(6)
        let ngBase: [UInt8] = {
            let w = pcapng()
            w.interface(linkType: .linuxSLL, tsresol: 0x80 | 30, tsoffset: -5)
            w.enhancedPacket(interface: 1, timestampNs: CaptureFixtures.t0, [UInt8](repeating: 0x45, count: 40))
            w.simplePacket(CaptureFixtures.frames[2])
            return w.bytes
        }()
        var inputs: [[UInt8]] = []
        for base in [pcapBase, ngBase] {
            for _ in 0..<3_000 {
                var b = base
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let i = Int(generator.next() % UInt64(b.count))
                    b[i] = UInt8(truncatingIfNeeded: generator.next())
                }
                if generator.next() % 5 == 0 { b.removeLast(Int(generator.next() % UInt64(b.count))) }
                inputs.append(b)
            }
        }
        // The reads run on their own thread with a deadline: a reader stuck in a loop fails the test
        // (naming the input it was on) instead of hanging the run. 6,000 small files read in well
        // under a second here; 60 s leaves room for a loaded machine and a debug build.
        let progress = DrainProgress()
        let corrupted = inputs
        let worker = Thread { [self] in
            for (i, b) in corrupted.enumerated() {
                progress.started(i)
                if let problem = read(b).problem { progress.problems.append("input \(i): \(problem)") }
            }
            progress.finish()
        }
        worker.stackSize = 8 << 20
        worker.start()
        if !progress.waitForFinish(seconds: 60) {
            let i = progress.current
            Issue.record("reading corrupted input \(i) of \(inputs.count) did not return within 60 s: \(inputs[i].count) bytes, \(inputs[i].prefix(64))")
            return
        }
        for problem in progress.problems { Issue.record(Comment(rawValue: problem)) }
    }
}

/// What the corruption test's reader thread has reached, and whether it is done.
final class DrainProgress: @unchecked Sendable {
    private let condition = NSCondition()
    private var index = 0
    private var done = false
    /// What went wrong on the reader thread, recorded by the test once the thread is done.
    var problems: [String] = []

    /// The input being read now.
    var current: Int {
        condition.lock()
        defer { condition.unlock() }
        return index
    }

    func started(_ i: Int) {
        condition.lock()
        index = i
        condition.unlock()
    }

    func finish() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// True once every input was read; false when `seconds` pass first.
    func waitForFinish(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !done {
            if !condition.wait(until: deadline) { return done }
        }
        return true
    }
}
