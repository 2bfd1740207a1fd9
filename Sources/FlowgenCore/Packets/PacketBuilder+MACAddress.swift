extension PacketBuilder {
    /// A 6-byte Ethernet address, written as a literal ("02:00:00:00:00:01") or from bytes.
    public struct MACAddress: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The six address bytes in wire order.
        public let bytes: [UInt8]

        /// An address from exactly six bytes.
        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 6, "a MAC address has 6 bytes, got \(bytes.count)")
            self.bytes = bytes
        }

        /// Parses "aa:bb:cc:dd:ee:ff" (or with '-'); nil when malformed.
        public init?(parsing text: String) {
            let parts = text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false)
            guard parts.count == 6 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                guard (1...2).contains(part.count), let byte = UInt8(part, radix: 16) else { return nil }
                bytes.append(byte)
            }
            self.bytes = bytes
        }

        /// A literal address; a malformed literal is a programming error in the test, so it traps.
        public init(stringLiteral value: String) {
            guard let parsed = MACAddress(parsing: value) else {
                preconditionFailure("malformed MAC address literal \"\(value)\"")
            }
            self = parsed
        }

        /// Colon-separated lowercase hex, as `ip link` prints it.
        public var description: String {
            bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: ":")
        }
    }
}
