extension PacketBuilder {
    /// One TCP option; the flow monitor reads MSS and window scale from SYNs, so those have typed cases.
    public enum TCPOption: Sendable, Hashable {
        /// End of option list (kind 0).
        case endOfList
        /// No-operation padding (kind 1).
        case noOperation
        /// Maximum segment size (kind 2, length 4).
        case maximumSegmentSize(UInt16)
        /// Window scale shift count (kind 3, length 3).
        case windowScale(UInt8)
        /// SACK permitted (kind 4, length 2).
        case sackPermitted
        /// Timestamps (kind 8, length 10).
        case timestamp(value: UInt32, echoReply: UInt32)
        /// Bytes written verbatim, for malformed options (bad lengths, unknown kinds).
        case raw([UInt8])

        /// The option's wire bytes.
        public var bytes: [UInt8] {
            switch self {
            case .endOfList: return [0]
            case .noOperation: return [1]
            case .maximumSegmentSize(let mss): return [2, 4] + PacketBuilder.wire(mss)
            case .windowScale(let shift): return [3, 3, shift]
            case .sackPermitted: return [4, 2]
            case .timestamp(let value, let echo): return [8, 10] + PacketBuilder.wire(value) + PacketBuilder.wire(echo)
            case .raw(let bytes): return bytes
            }
        }
    }
}
