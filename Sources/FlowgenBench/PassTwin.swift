import Foundation
import FlowgenCore
import FlowgenKernel

/// A stripped-down twin of the collector's kernel pass over one table layout
/// (`Templates/bench/pass_twin.bpf.c`): what the layout alone makes a pass that ends every flow
/// cost, with the preset's key and record sizes, the real pass's ring size and the table's
/// capacity. Its program takes the real pass's parameters and writes its ring records, so
/// `KernelFlowPass` drives it exactly as it drives the real pass (mark run, RCU grace period, move
/// runs until the ring stops filling, the ring read in place); the collector's pairing, decoding and
/// formatting are left out. The per-direction twin is the floor of flowgen's layout; the per-biflow
/// twin prices the layout not taken.
public final class PassTwin {
    /// The table layouts a twin can have.
    public enum Layout: String, CaseIterable, Codable, Sendable {
        /// One entry per direction: flowgen's layout.
        case perDirection = "per direction"
        /// One entry per biflow, both directions' records in one value.
        case perBiflow = "per biflow"
    }

    /// What one run of the twin did.
    public struct Run: Sendable {
        /// Flows that came out of the ring (a pair record, or a direction without its pair).
        public var flows = 0
        /// Directions that came out of the ring.
        public var directions = 0
        /// Seconds of the whole pass, ring reading included.
        public var seconds = 0.0
        /// Times the ring filled before the pass was done.
        public var ringRefills = 0
    }

    /// The twin's layout.
    public let layout: Layout
    /// Its table (directions or biflows, as the layout keeps them).
    public let table: FlowTable
    /// Bytes of one direction's record.
    public let recordBytes: Int
    let pass: KernelFlowPass
    /// Owns the program and maps: closing it (when the twin goes) frees them.
    private let object: LoadedObject

    /// Wraps a loaded `pass_twin.bpf.c` (see `FloorBuilder.passTwin`).
    init(layout: Layout, object: LoadedObject, recordBytes: Int) throws {
        self.layout = layout
        self.object = object
        self.recordBytes = recordBytes
        table = try FlowTable(pipeline: object, map: "twin_flows")
        pass = try KernelFlowPass(programFD: object.entryFD, configFD: try object.mapFD("twin_cfg"), ringFD: try object.mapFD("twin_ended"),
                                  keySize: table.keySize, valueSize: recordBytes)
    }

    /// Puts synthetic flows in the twin's table: `keys` and `values` hold both directions of each
    /// biflow, the client's direction first (as `CollectorBenchmark.syntheticFlows` makes them).
    /// The per-biflow twin keeps the client's key with both records as its value, which are the
    /// two directions' records side by side already.
    public func fill(keys: [UInt8], values: [UInt8]) throws {
        switch layout {
        case .perDirection:
            try table.updateBatch(keys: keys, values: values)
        case .perBiflow:
            let keySize = table.keySize
            var forward = [UInt8]()
            forward.reserveCapacity(keys.count / 2)
            for start in stride(from: 0, to: keys.count, by: 2 * keySize) {
                forward.append(contentsOf: keys[start..<start + keySize])
            }
            try table.updateBatch(keys: forward, values: values)
        }
    }

    /// One pass that ends every flow in the table; `observe` sees each batch of ended directions
    /// before it is released.
    public func run(observe: ((EndedDirections) -> Void)? = nil) throws -> Run {
        var run = Run()
        let request = KernelEndingRequest.pass(now: MonotonicClock.nowNs(), policy: ExpiryPolicy(), highWater: Int.max, lowWater: 0)
        let start = Date()
        let report = try pass.end(request) { ended in
            run.directions += ended.count
            var i = 0
            while i < ended.count {
                i += ended.flags(i) & EndedDirections.pairFlag != 0 ? 2 : 1
                run.flows += 1
            }
            observe?(ended)
        }
        run.seconds = Date().timeIntervalSince(start)
        run.ringRefills = report.ringRefills
        return run
    }
}
