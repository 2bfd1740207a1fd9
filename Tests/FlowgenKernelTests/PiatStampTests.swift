import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport
@testable import FlowgenBench

/// Where the precise clock's time comes from on a live monitor: a packet's own CLOCK_MONOTONIC
/// `skb->tstamp` (TCP's departure time) when it carries one, `bpf_ktime_get_ns()` otherwise
/// (flowgen.h, fg_now). A test run cannot hand a program a mono stamp (the kernel refuses a
/// tstamp_type in its context), so the bench's stamp driver sets it as TCP does and tail-calls the
/// monitor.
@Suite(.serialized) struct PiatStampTests {
    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static let segment = Packet.ethernet().ipv4(src: "198.18.0.1", dst: "198.18.0.2")
        .tcp(sport: 40000, dport: 80, flags: [.ack, .psh], payload: [1, 2, 3])
    static let key = key4("198.18.0.1", "198.18.0.2", 40000, 80, 6)

    /// A live monitor of `features` reached through a stamp driver whose stamps start at 1 s and
    /// step by `step` ns per packet (Templates/bench/stamp_driver.bpf.c).
    func stamped(_ features: String, step: Int) throws -> (ProgramHarness, BenchProgram) {
        let harness = try ProgramHarness(features: features, live: true)
        let floors = FloorBuilder(compiler: ClangCompiler(), directory: try ResourceLocator.locate().templates + "/bench")
        let driver = try floors.stamped(try BenchProgram(label: features, monitor: harness.monitor),
                                        label: "\(features) [stamped]", stepNanoseconds: step)
        return (harness, driver)
    }

    /// Five segments stamped 1 s, 1.001 s, ... 1.004 s: the record holds those times, not the
    /// helper's (which reads hours of uptime here), and four gaps of 1 ms each (ms stamps 1000 to 1004).
    @Test func aMonoStampIsThePacketsTime() throws {
        let (harness, driver) = try stamped("piat_stats", step: 1_000_000)
        _ = try driver.run(Self.segment.bytes(), repetitions: 5)
        #expect(try harness.value("first_seen", Self.key) == 1_000_000_000)
        #expect(try harness.value("last_seen", Self.key) == 1_004_000_000)
        #expect(try harness.value("piat_last1", Self.key) == 1_004 + 1)
        #expect(try harness.value("piat_min_ms", Self.key) == 1)
        #expect(try harness.value("piat_max_ms", Self.key) == 1)
        #expect(try harness.value("piat_sumsq_ms", Self.key) == 4)
        // the reverse direction is absent: each gap to the packet before of either direction is the same 1 ms
        #expect(try harness.value("bpiat_min_ms", Self.key) == 1)
        #expect(try harness.value("bpiat_max_ms", Self.key) == 1)
        #expect(try harness.value("bpiat_sumsq_ms", Self.key) == 4)
    }

    /// Segments 1 µs apart fall in one ms: every gap is 0 (taken without the reverse lookup), and
    /// last_seen still moves with every packet.
    @Test func segmentsWithinOneMsHaveGapsOfZero() throws {
        let (harness, driver) = try stamped("piat_stats", step: 1_000)
        _ = try driver.run(Self.segment.bytes(), repetitions: 5)
        #expect(try harness.value("first_seen", Self.key) == 1_000_000_000)
        #expect(try harness.value("last_seen", Self.key) == 1_000_004_000)
        #expect(try harness.value("piat_last1", Self.key) == 1_000 + 1)
        for field in ["piat_min_ms", "piat_max_ms", "piat_sumsq_ms", "bpiat_min_ms", "bpiat_max_ms", "bpiat_sumsq_ms"] {
            #expect(try harness.value(field, Self.key) == 0, "\(field)")
        }
    }

    /// A stamp of another clock (the test run's context gives a tstamp with no type: realtime, as a
    /// NIC's receive stamp) is not taken: the time is the helper's CLOCK_MONOTONIC one.
    @Test func aStampOfAnotherClockIsNotTaken() throws {
        let harness = try ProgramHarness(features: "piat_stats", live: true)
        let realtime: UInt64 = 1_765_000_000_000_000_000
        let before = Self.monotonicNow()
        try harness.send(Self.segment, at: realtime)
        let after = Self.monotonicNow()
        let first = try #require(try harness.value("first_seen", Self.key))
        #expect(first >= before && first <= after, "first_seen \(first) outside CLOCK_MONOTONIC \(before)...\(after)")
    }
}
