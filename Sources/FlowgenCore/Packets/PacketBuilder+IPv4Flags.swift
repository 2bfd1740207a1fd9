extension PacketBuilder {
    /// The three IPv4 flag bits (top of the fragment field), in wire bit order after shifting down by 13.
    public struct IPv4Flags: OptionSet, Sendable, Hashable {
        /// The 3 flag bits, right-aligned.
        public let rawValue: UInt8

        /// Flags from the right-aligned 3-bit value.
        public init(rawValue: UInt8) {
            self.rawValue = rawValue & 0x7
        }

        /// More fragments follow.
        public static let moreFragments = IPv4Flags(rawValue: 0x1)
        /// Don't fragment.
        public static let dontFragment = IPv4Flags(rawValue: 0x2)
        /// The reserved bit, which must be zero; set it to build a malformed header.
        public static let reserved = IPv4Flags(rawValue: 0x4)
    }
}
