import Foundation
import FlowgenCore

/// The program a replay runs packets through, with its flow table and counters.
public enum ReplayProgram {
    /// A monitor loaded in the kernel in replay mode (`LoadedMonitor(replay: true)`).
    case kernel(LoadedMonitor)
    /// The native build of a monitor.
    case native(NativeMonitor)

    /// The plan the program was generated from.
    public var plan: Plan {
        switch self {
        case let .kernel(monitor): return monitor.plan
        case let .native(monitor): return monitor.plan
        }
    }

    /// The engine it belongs to.
    public var engine: ReplayEngine {
        switch self {
        case .kernel: return .kernel
        case .native: return .native
        }
    }

    /// The failure counters, by counter.
    func counters() throws -> [KernelCounter: UInt64] {
        switch self {
        case let .kernel(monitor): return try monitor.counters()
        case let .native(monitor): return try monitor.counters()
        }
    }

    /// The flow table the collector reads.
    func table() throws -> any ReplayTable {
        switch self {
        case let .kernel(monitor): return try monitor.flowTable()
        case let .native(monitor): return monitor.flowTable()
        }
    }

    /// Threads that may run packets: the kernel map takes concurrent updates, the native table
    /// belongs to one thread.
    func workers(_ wanted: Int) -> Int {
        switch self {
        case .kernel: return wanted
        case .native: return 1
        }
    }

    /// The per-thread runner of one packet.
    func runner() -> any FrameRunner {
        switch self {
        case let .kernel(monitor): return FrameTestRun(programFD: monitor.entryFD)
        case let .native(monitor):
            // with a second CPU, reading and running overlap (the output is the same)
            return ProcessInfo.processInfo.activeProcessorCount > 1 ? PipelinedNativeRunner(library: monitor.library)
                : NativeFrameRunner(library: monitor.library)
        }
    }
}
