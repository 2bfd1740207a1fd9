/// Why a flow record was exported; raw values are IPFIX flowEndReason (IE 136) codes.
public enum EndReason: UInt8, Sendable, CaseIterable {
    /// No packet for the idle timeout.
    case idleTimeout = 1
    /// The flow outlived the active timeout; it continues in a new record.
    case activeTimeout = 2
    /// TCP FIN from both sides, or RST.
    case endOfFlow = 3
    /// The collector was stopped (SIGINT/SIGTERM, or a one-shot dump).
    case forced = 4
    /// Evicted early because the flow table was nearly full.
    case lackOfResources = 5
    /// The capture being replayed ended (exported as IPFIX 3, end of flow detected).
    case endOfCapture = 0xFF

    /// The name in JSON/CSV/text output.
    public var name: String {
        switch self {
        case .idleTimeout: return "idle timeout"
        case .activeTimeout: return "active timeout"
        case .endOfFlow: return "end of flow"
        case .forced: return "forced"
        case .lackOfResources: return "lack of resources"
        case .endOfCapture: return "end of capture"
        }
    }

    /// The IPFIX flowEndReason code.
    public var ipfixCode: UInt8 { self == .endOfCapture ? 3 : rawValue }
}

/// A bidirectional flow (RFC 5103): the initiator's direction, the responder's if seen, and why it ended.
public struct Biflow: Sendable, Equatable {
    /// Running number of the exported flow (FLOW_ID).
    public var id: UInt64
    /// Initiator → responder (the direction seen first).
    public var forward: FlowRecord
    /// Responder → initiator, nil for a one-way flow.
    public var reverse: FlowRecord?
    /// Why the flow was exported.
    public var endReason: EndReason

    /// Creates a biflow.
    public init(id: UInt64, forward: FlowRecord, reverse: FlowRecord?, endReason: EndReason) {
        self.id = id
        self.forward = forward
        self.reverse = reverse
        self.endReason = endReason
    }
}

extension Biflow {
    /// Calls `body` with the flow's fields borrowed (its value arrays are not copied or retained
    /// per column), the form the formatters read.
    @inline(__always)
    func withFields<R>(_ body: (BiflowFields) -> R) -> R {
        forward.values.withUnsafeBufferPointer { fv in
            guard let reverse else {
                return body(BiflowFields(id: id, endReason: endReason, key: forward.key, forward: fv, reverse: nil))
            }
            return reverse.values.withUnsafeBufferPointer { rv in
                body(BiflowFields(id: id, endReason: endReason, key: forward.key, forward: fv, reverse: rv))
            }
        }
    }
}

/// What the formatters (JSON, CSV, IPFIX) read of one biflow, borrowed from a `Biflow` or from a
/// `BiflowBatch`: both can be written by the same code, and a batch needs no array per direction.
/// The buffers are valid only inside the closure that hands the value out.
struct BiflowFields {
    /// FLOW_ID.
    var id: UInt64
    /// Why the flow ended.
    var endReason: EndReason
    /// The initiator's key (the only key the output shows).
    var key: FlowKey
    /// The initiator's values, in `RecordDecoder.columns` order.
    var forward: UnsafeBufferPointer<UInt64>
    /// The responder's values, nil for a one-way flow.
    var reverse: UnsafeBufferPointer<UInt64>?
}
