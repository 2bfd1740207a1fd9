extension PacketBuilder {
    /// An IPv6 address, written as a literal ("fd00::1", "::ffff:198.18.0.1") or from 16 bytes.
    public struct IPv6Address: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The sixteen address bytes in wire order.
        public let bytes: [UInt8]

        /// An address from exactly sixteen bytes.
        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 16, "an IPv6 address has 16 bytes, got \(bytes.count)")
            self.bytes = bytes
        }

        /// Parses RFC 4291 text: hex groups, one `::`, an optional dotted-quad tail; nil when malformed.
        /// Written in Swift rather than calling inet_pton so FlowgenCore stays free of Glibc.
        public init?(parsing text: String) {
            guard !text.isEmpty, !text.contains("%") else { return nil }
            let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
            guard halves.count <= 2 else { return nil }
            guard let head = IPv6Address.groups(halves[0], allowsIPv4Tail: halves.count == 1) else { return nil }
            var words: [UInt16]
            if halves.count == 2 {
                guard let tail = IPv6Address.groups(halves[1], allowsIPv4Tail: true),
                      head.count + tail.count <= 7 else { return nil }
                words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
            } else {
                words = head
            }
            guard words.count == 8 else { return nil }
            self.bytes = words.flatMap { PacketBuilder.wire($0) }
        }

        /// A literal address; a malformed literal is a programming error in the test, so it traps.
        public init(stringLiteral value: String) {
            guard let parsed = IPv6Address(parsing: value) else {
                preconditionFailure("malformed IPv6 address literal \"\(value)\"")
            }
            self = parsed
        }

        /// The IPv4-mapped form (::ffff:a.b.c.d), which is how the flow key stores IPv4 addresses.
        public init(mapping ipv4: IPv4Address) {
            self.bytes = Array(repeating: 0, count: 10) + [0xFF, 0xFF] + ipv4.bytes
        }

        /// RFC 5952 canonical text: lowercase, leading zeros dropped, the longest zero run (two groups or more) as `::`.
        public var description: String {
            let words = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
            var best = (start: -1, length: 0)
            var index = 0
            while index < 8 {
                guard words[index] == 0 else { index += 1; continue }
                let start = index
                while index < 8, words[index] == 0 { index += 1 }
                if index - start > best.length { best = (start, index - start) }
            }
            let hex = { (range: Range<Int>) in range.map { String(words[$0], radix: 16) }.joined(separator: ":") }
            guard best.length >= 2 else { return hex(0..<8) }
            return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
        }

        /// The 16-bit groups of one side of a `::`; a trailing dotted quad counts as two groups.
        private static func groups(_ text: String, allowsIPv4Tail: Bool) -> [UInt16]? {
            if text.isEmpty { return [] }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            var words: [UInt16] = []
            for (position, part) in parts.enumerated() {
                if position == parts.count - 1, allowsIPv4Tail, part.contains(".") {
                    guard let ipv4 = IPv4Address(parsing: part) else { return nil }
                    words.append(UInt16(ipv4.bytes[0]) << 8 | UInt16(ipv4.bytes[1]))
                    words.append(UInt16(ipv4.bytes[2]) << 8 | UInt16(ipv4.bytes[3]))
                    continue
                }
                guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit),
                      let word = UInt16(part, radix: 16) else { return nil }
                words.append(word)
            }
            return words
        }
    }
}
