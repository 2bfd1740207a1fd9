/// When a direction (or a biflow) could end at the earliest if no packet came: idle timeout, active
/// timeout, or FIN/RST + the end-of-flow delay. A biflow's quiet time counts from its latest packet,
/// its age from its earliest; FIN/RST in either direction is assumed to end it (a lower bound).
///
/// A biflow ends only once one of its directions' own deadlines has passed, so a pass can tell from
/// one direction alone whether it may be part of a flow that ends (and keep its record for export).
public struct FlowDeadline: Sendable {
    /// First packet (ns).
    public var first: UInt64
    /// Last packet (ns).
    public var last: UInt64
    /// FIN or RST seen.
    public var finOrReset: Bool
    /// The timeouts.
    public let policy: ExpiryPolicy

    /// A direction's (or biflow's) deadline under `policy`.
    public init(first: UInt64, last: UInt64, finOrReset: Bool, policy: ExpiryPolicy) {
        (self.first, self.last, self.finOrReset, self.policy) = (first, last, finOrReset, policy)
    }

    /// A direction's deadline from its first and last packet times and its TCP flags (FIN 0x01 or RST 0x04).
    public init(first: UInt64, last: UInt64, tcpFlags: UInt64, policy: ExpiryPolicy) {
        self.init(first: first, last: last, finOrReset: tcpFlags & 0x05 != 0, policy: policy)
    }

    /// The earliest instant at which it could end.
    public var instant: UInt64 {
        // a zero delay ends a flow even before its last packet's time (the collector's quiet time is 0 then)
        if policy.idleTimeoutNs == 0 || (finOrReset && policy.endQuietNs == 0) { return 0 }
        var t = Self.add(last, policy.idleTimeoutNs)
        t = min(t, Self.add(first, policy.activeTimeoutNs))
        if finOrReset { t = min(t, Self.add(last, policy.endQuietNs)) }
        return t
    }

    /// The deadline of the biflow made of this direction and `other`.
    public func combined(with other: FlowDeadline) -> FlowDeadline {
        FlowDeadline(first: min(first, other.first), last: max(last, other.last), finOrReset: finOrReset || other.finOrReset, policy: policy)
    }

    /// `a + b`, saturating at the largest instant.
    public static func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }
}
