import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// A loaded program the benchmark times: a floor program or a flowgen monitor, with the flow map it
/// fills (so runs can start from an empty table and new-flow runs can be checked).
public final class BenchProgram {
    /// Label in tables and JSON ("return-only", "minimal", "base", ...).
    public let label: String
    /// True for the floor programs of `Templates/bench/`.
    public let isFloor: Bool
    /// File descriptor of the program that BPF_PROG_TEST_RUN and tc get.
    public let fd: Int32
    /// The flow map, nil for a program that keeps none.
    public let flowTable: FlowTable?
    /// The monitor's plan with verifier counts (nil for floors).
    public let plan: Plan?
    /// Instructions the verifier processed, per program of the object (stage order for monitors).
    public let verifiedInstructions: [Int]
    /// Bytes of JIT-compiled machine code, summed over the object's programs: what competes for the
    /// instruction cache on a real receive path (a test-run loop keeps even a large program hot).
    public let jitedBytes: Int
    /// The monitor's kernel collector pass (nil for floors, or a kernel without what it needs).
    public let kernelPass: KernelFlowPass?
    /// Whatever owns the fds; kept alive as long as this value.
    private let owner: AnyObject
    /// The program a driver hands the packet to, kept loaded as long as the driver.
    private var driven: BenchProgram?

    /// Wraps a loaded flowgen monitor.
    public init(label: String, monitor: LoadedMonitor) throws {
        self.label = label
        isFloor = false
        fd = monitor.entryFD
        flowTable = try monitor.flowTable()
        plan = monitor.plan
        verifiedInstructions = monitor.plan.stages.compactMap(\.verifiedInstructions)
        // the packet path's programs: the collector's pass program never runs on a packet
        jitedBytes = monitor.pipeline.programs.filter { $0.name != KernelFlowPass.programName }.reduce(0) { $0 + Int($1.jitedBytes) }
        kernelPass = try monitor.kernelPass()
        owner = monitor
    }

    /// Wraps a loaded floor program; `flowMap` names its hash map, if it has one.
    public init(label: String, pipeline: LoadedObject, flowMap: String?) throws {
        self.label = label
        isFloor = true
        fd = pipeline.entryFD
        flowTable = try flowMap.map { try FlowTable(pipeline: pipeline, map: $0) }
        plan = nil
        verifiedInstructions = pipeline.programs.map { Int($0.verifiedInstructions) }
        jitedBytes = pipeline.programs.reduce(0) { $0 + Int($1.jitedBytes) }
        kernelPass = nil
        owner = pipeline
    }

    /// A driver program (`Templates/bench/`) whose slot 0 holds `target`: test runs of this one run
    /// the driver, then `target`, which fills its own flow map (this program's `flowTable`).
    public init(label: String, driver: LoadedObject, target: BenchProgram) {
        self.label = label
        isFloor = target.isFloor
        fd = driver.entryFD
        flowTable = target.flowTable
        plan = target.plan
        verifiedInstructions = target.verifiedInstructions
        jitedBytes = target.jitedBytes
        kernelPass = nil
        owner = driver
        driven = target
    }

    /// Empties the flow map; returns how many entries it held.
    @discardableResult
    public func clearFlows() throws -> Int {
        guard let flowTable else { return 0 }
        return try flowTable.drain().count
    }

    /// Entries in the flow map (0 without one).
    public func flowCount() throws -> Int {
        try flowTable?.count() ?? 0
    }

    /// The test-run wrapper for this program.
    public var testRun: ProgramTestRun { ProgramTestRun(programFD: fd) }

    /// Runs `frame` `repetitions` times; fails unless the program returned TC_ACT_UNSPEC, the only
    /// verdict every program here gives for a well-formed frame (anything else means another path ran).
    public func run(_ frame: [UInt8], repetitions: UInt32) throws -> ProgramTestRun.Outcome {
        let outcome = try testRun.run(frame, repetitions: repetitions)
        guard outcome.signedReturnValue == -1 else {
            throw BenchError.unexpectedReturn(program: label, value: outcome.signedReturnValue)
        }
        return outcome
    }
}
