import CLibBPF
import FlowgenKernel
import FlowgenTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Times the new-flow path: a driver program rewrites the source address on every repetition of a
/// test run and tail-calls the program under test, so each repetition is a flow it has never seen.
///
/// BPF_PROG_TEST_RUN repeats one packet over one skb, and the skb keeps the driver's writes, so a run
/// of N repetitions inserts N flows. Timing with one large run (rather than N runs of one packet)
/// keeps the kernel's per-call timer and skb setup out of the figure; what remains of the driver
/// (its body and the tail call) is measured by pointing it at the return-only floor and subtracted.
public final class NewFlowDriver {
    /// The driver's object.
    public let pipeline: LoadedObject
    private let slotsFD: Int32

    /// Wraps the loaded driver object.
    public init(pipeline: LoadedObject) throws {
        self.pipeline = pipeline
        slotsFD = try pipeline.mapFD("bench_target")
    }

    /// Makes the driver tail-call `program` from now on.
    public func target(_ program: BenchProgram) throws {
        try Self.point(slotsFD, at: program, driver: "new-flow driver")
    }

    /// Puts `program` into slot 0 of a driver's `bench_target` program array (`slotsFD`).
    static func point(_ slotsFD: Int32, at program: BenchProgram, driver: String) throws {
        var key: UInt32 = 0
        var value = UInt32(bitPattern: program.fd)
        if bpf_map_update_elem(slotsFD, &key, &value, 0) != 0 {
            throw KernelError.mapOperationFailed(map: "bench_target", operation: "pointing the \(driver) at \(program.label)", code: errno)
        }
    }

    /// One timed run of `repetitions` new flows through the targeted program; returns the kernel's ns per repetition.
    /// The target's map is emptied first, and afterwards it must hold exactly `repetitions` flows,
    /// which proves every repetition took the insert path.
    public func measure(_ program: BenchProgram, frame: [UInt8], repetitions: UInt32) throws -> Double {
        try target(program)
        try program.clearFlows()
        let outcome = try ProgramTestRun(programFD: pipeline.entryFD).run(frame, repetitions: repetitions)
        guard outcome.signedReturnValue == -1 else {
            throw BenchError.unexpectedReturn(program: "new-flow driver → \(program.label)", value: outcome.signedReturnValue)
        }
        if program.flowTable != nil {
            let found = try program.flowCount()
            guard found == Int(repetitions) else {
                throw BenchError.newFlowMethodFailed(program: program.label, expected: Int(repetitions), found: found)
            }
            try program.clearFlows()
        }
        return Double(outcome.durationNanoseconds)
    }
}
