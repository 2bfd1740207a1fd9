extension PacketBuilder {
    /// The eight TCP flag bits of header byte 13, in wire bit order.
    public struct TCPFlags: OptionSet, Sendable, Hashable {
        /// The flags byte as it appears on the wire.
        public let rawValue: UInt8

        /// Flags from the wire byte.
        public init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// No more data from sender.
        public static let fin = TCPFlags(rawValue: 0x01)
        /// Synchronize sequence numbers.
        public static let syn = TCPFlags(rawValue: 0x02)
        /// Reset the connection.
        public static let rst = TCPFlags(rawValue: 0x04)
        /// Push function.
        public static let psh = TCPFlags(rawValue: 0x08)
        /// Acknowledgment field significant.
        public static let ack = TCPFlags(rawValue: 0x10)
        /// Urgent pointer field significant.
        public static let urg = TCPFlags(rawValue: 0x20)
        /// ECN-Echo (RFC 3168).
        public static let ece = TCPFlags(rawValue: 0x40)
        /// Congestion Window Reduced (RFC 3168).
        public static let cwr = TCPFlags(rawValue: 0x80)
    }
}
