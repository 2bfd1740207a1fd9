extension PacketBuilder {
    /// One 802.1Q / 802.1ad tag: TPID then the tag control information (priority, DEI, VLAN id).
    public struct VLANTag: Sendable, Hashable {
        /// Customer tag TPID (802.1Q).
        public static let dot1Q: UInt16 = 0x8100
        /// Service tag TPID (802.1ad, QinQ outer tag).
        public static let dot1AD: UInt16 = 0x88A8

        /// The tag protocol identifier, i.e. the ethertype announcing this tag.
        public var tpid: UInt16
        /// The 12-bit VLAN identifier (higher bits are masked off).
        public var id: UInt16
        /// The 3-bit priority code point.
        public var priority: UInt8
        /// The drop eligible indicator.
        public var dropEligible: Bool

        /// A tag; the defaults give an ordinary 802.1Q tag with priority 0.
        public init(id: UInt16, priority: UInt8 = 0, dropEligible: Bool = false, tpid: UInt16 = VLANTag.dot1Q) {
            self.tpid = tpid
            self.id = id
            self.priority = priority
            self.dropEligible = dropEligible
        }

        /// The 4 wire bytes: TPID and TCI.
        public var bytes: [UInt8] {
            let tci = UInt16(priority & 0x7) << 13 | (dropEligible ? 0x1000 : 0) | (id & 0x0FFF)
            return PacketBuilder.wire(tpid) + PacketBuilder.wire(tci)
        }
    }
}
