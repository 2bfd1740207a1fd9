/// What one template field reads from a biflow.
public enum IPFIXValueSource: Sendable, Equatable {
    /// The initiator's address (4 octets in IPv4 templates, 16 in IPv6 ones).
    case sourceAddress
    /// The responder's address.
    case destinationAddress
    /// The initiator's port (ICMP: the echo/timestamp/information identifier, as in the JSON output).
    case sourcePort
    /// The responder's port (ICMP: type × 256 + code, as in the JSON output).
    case destinationPort
    /// The IP protocol number.
    case protocolIdentifier
    /// ICMP type × 256 + code of the initiator's messages; 0 for other protocols.
    case icmpTypeCode
    /// The IPFIX flowEndReason code.
    case flowEndReason
    /// The running flow number (FLOW_ID).
    case flowID
    /// RFC 5103 biflowDirection: always 1 (initiator), since the forward direction is the one seen first.
    case biflowDirection
    /// One element of a stored plan field, in one direction (`combined`: both, by the field's
    /// aggregation); a direction without a sample (`sample`) does not take part.
    case field(column: Int, direction: OutputSchema.Direction, aggregation: Aggregation, unit: FieldUnit, sample: FieldSample)
    /// A derived field (`derive:`), its expression resolved to decoder columns, in one direction.
    case derived(expression: DeriveExpression, direction: OutputSchema.Direction, aggregation: Aggregation, unit: FieldUnit)

    /// The direction a field element reads; nil for key and metadata fields.
    public var direction: OutputSchema.Direction? {
        switch self {
        case let .field(_, direction, _, _, _), let .derived(_, direction, _, _): return direction
        default: return nil
        }
    }
}
