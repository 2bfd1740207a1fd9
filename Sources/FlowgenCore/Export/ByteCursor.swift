/// Writes ASCII text at a raw pointer with no capacity checks: the caller reserves an upper bound
/// first (`FlowFormatter` sizes it per schema). This is the formatters' inner loop, so it avoids
/// everything that allocates or checks per byte (String, `String(n)`, array appends).
struct ByteCursor {
    /// Where the next byte goes.
    var p: UnsafeMutablePointer<UInt8>

    @inline(__always)
    init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

    /// Longest `address` text: eight 4-digit groups and seven colons.
    static let maxAddressLength = 39
    /// Longest `decimal` text (UInt64.max has 20 digits).
    static let maxDecimalLength = 20

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        p.initialize(to: b)
        p += 1
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafePointer<UInt8>, _ count: Int) {
        p.initialize(from: source, count: count)
        p += count
    }

    /// Bytes `short` may write past the end of what it copies: a buffer written with it needs this
    /// much room beyond its bound, and its sources this much readable memory after them.
    static let slack = 32

    /// Copies a short constant (a JSON key, an end reason) as two 16-byte moves instead of a memcpy
    /// call; may write up to `slack` bytes beyond the copy, which later writes overwrite.
    @inline(__always)
    mutating func short(_ source: UnsafePointer<UInt8>, _ count: Int) {
        guard count <= 32 else {
            bytes(source, count)
            return
        }
        let s = UnsafeRawPointer(source), d = UnsafeMutableRawPointer(p)
        d.storeBytes(of: s.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        (d + 16).storeBytes(of: (s + 16).loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        p += count
    }

    /// Number of decimal digits of `v`.
    @inline(__always)
    static func digitCount(_ v: UInt64) -> Int {
        var n = 1
        var x = v
        if x >= 10_000_000_000_000_000 { n += 16; x /= 10_000_000_000_000_000 }
        if x >= 100_000_000 { n += 8; x /= 100_000_000 }
        if x >= 10_000 { n += 4; x /= 10_000 }
        if x >= 100 { n += 2; x /= 100 }
        if x >= 10 { n += 1 }
        return n
    }

    /// `v` in decimal, as `String(v)` writes it.
    @inline(__always)
    mutating func decimal(_ v: UInt64) {
        if v < 10 {
            byte(0x30 &+ UInt8(truncatingIfNeeded: v))
            return
        }
        let n = Self.digitCount(v)
        var q = p + n
        var x = v
        // two digits per division: the divisions by constants compile to multiplications
        while x >= 100 {
            let pair = Int(truncatingIfNeeded: x % 100)
            x /= 100
            q -= 2
            q[0] = 0x30 &+ UInt8(truncatingIfNeeded: pair / 10)
            q[1] = 0x30 &+ UInt8(truncatingIfNeeded: pair % 10)
        }
        if x >= 10 {
            q[-2] = 0x30 &+ UInt8(truncatingIfNeeded: x / 10)
            q[-1] = 0x30 &+ UInt8(truncatingIfNeeded: x % 10)
        } else {
            q[-1] = 0x30 &+ UInt8(truncatingIfNeeded: x)
        }
        p += n
    }

    /// An octet in decimal (one group of a dotted quad).
    @inline(__always)
    mutating func octet(_ b: UInt8) {
        if b >= 100 {
            p[0] = 0x30 &+ b / 100
            p[1] = 0x30 &+ (b / 10) % 10
            p[2] = 0x30 &+ b % 10
            p += 3
        } else if b >= 10 {
            p[0] = 0x30 &+ b / 10
            p[1] = 0x30 &+ b % 10
            p += 2
        } else {
            byte(0x30 &+ b)
        }
    }

    /// A 16-bit group in lowercase hex without leading zeros, as `String(g, radix: 16)`.
    @inline(__always)
    mutating func hexGroup(_ g: UInt16) {
        let digits = g == 0 ? 1 : (16 - g.leadingZeroBitCount + 3) / 4
        for i in 0..<digits {
            let nibble = UInt8(truncatingIfNeeded: g >> UInt16(4 * (digits - 1 - i))) & 0xf
            p[i] = nibble < 10 ? 0x30 &+ nibble : 0x57 &+ nibble
        }
        p += digits
    }

    /// The text of `IPAddress16.description`: a dotted quad for v4-mapped values, RFC 5952 text
    /// otherwise (longest run of two or more zero groups, the first of equals, compressed to "::").
    @inline(__always)
    mutating func address(_ a: IPAddress16) {
        // hi/lo hold the bytes in memory order; bigEndian reads them as the groups' numbers
        let hi = UInt64(bigEndian: a.hi), lo = UInt64(bigEndian: a.lo)
        if hi == 0 && lo >> 32 == 0xffff {
            octet(UInt8(truncatingIfNeeded: lo >> 24))
            byte(0x2e)
            octet(UInt8(truncatingIfNeeded: lo >> 16))
            byte(0x2e)
            octet(UInt8(truncatingIfNeeded: lo >> 8))
            byte(0x2e)
            octet(UInt8(truncatingIfNeeded: lo))
            return
        }
        ipv6(hi: hi, lo: lo)
    }

    /// RFC 5952 text of the 128-bit address `hi`:`lo` (groups most significant first).
    mutating func ipv6(hi: UInt64, lo: UInt64) {
        @inline(__always) func group(_ i: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (i < 4 ? hi : lo) >> UInt64(48 - 16 * (i & 3)))
        }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if group(i) == 0 {
                var j = i + 1
                while j < 8 && group(j) == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else {
                i += 1
            }
        }
        if bestStart < 0 {
            for k in 0..<8 {
                if k > 0 { byte(0x3a) }
                hexGroup(group(k))
            }
            return
        }
        for k in 0..<bestStart {
            if k > 0 { byte(0x3a) }
            hexGroup(group(k))
        }
        byte(0x3a)
        byte(0x3a)
        var k = bestStart + bestLength
        var first = true
        while k < 8 {
            if !first { byte(0x3a) }
            first = false
            hexGroup(group(k))
            k += 1
        }
    }
}
