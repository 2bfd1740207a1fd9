extension PacketBuilder {
    /// An IPv4 address, written as a literal ("198.18.0.1"), an array literal ([198, 18, 0, 1]) or from bytes.
    public struct IPv4Address: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
        /// The four address bytes in wire order.
        public let bytes: [UInt8]

        /// An address from exactly four bytes.
        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 4, "an IPv4 address has 4 bytes, got \(bytes.count)")
            self.bytes = bytes
        }

        /// Parses dotted-quad notation (exactly four decimal parts, each 0...255); nil when malformed.
        public init?(parsing text: some StringProtocol) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                // Leading zeros are refused because inet_pton refuses them (some tools read them as octal).
                guard (1...3).contains(part.count), part.allSatisfy({ ("0"..."9").contains($0) }),
                      part.count == 1 || part.first != "0",
                      let byte = UInt8(part) else { return nil }
                bytes.append(byte)
            }
            self.bytes = bytes
        }

        /// A literal address; a malformed literal is a programming error in the test, so it traps.
        public init(stringLiteral value: String) {
            guard let parsed = IPv4Address(parsing: value) else {
                preconditionFailure("malformed IPv4 address literal \"\(value)\"")
            }
            self = parsed
        }

        /// An address from an array literal of four bytes.
        public init(arrayLiteral elements: UInt8...) {
            self.init(elements)
        }

        /// Dotted-quad notation.
        public var description: String {
            bytes.map(String.init).joined(separator: ".")
        }
    }
}
