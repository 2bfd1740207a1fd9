/// Writes ASCII text at a raw pointer with no capacity checks: the caller reserves an upper bound
/// first (`FlowFormatter` sizes it per schema). This is the formatters' inner loop, so it avoids
/// everything that allocates or checks per byte (String, `String(n)`, array appends).
struct ByteCursor {
    /// Where the next byte goes.
    var p: UnsafeMutablePointer<UInt8>
    /// `halfPowersOfTen`, fetched once per cursor rather than through the global's lazy-init check per number.
    let halfPowers: UnsafePointer<UInt64>

    @inline(__always)
    init(_ p: UnsafeMutablePointer<UInt8>) {
        self.p = p
        halfPowers = Self.halfPowersOfTen
    }

    /// 10^i / 2 for i in 1...19, and 0 for i = 0 (0 and 1 both have one digit), in memory for
    /// `digitCount`: a switch over constants compiles to a jump table whose indirect branch
    /// mispredicts on every other number. Halved so that the comparison fits a signed subtraction.
    /// Allocated once, never freed, never written after its initialisation: safe to share, though
    /// the pointer type is not Sendable.
    nonisolated(unsafe) static let halfPowersOfTen: UnsafePointer<UInt64> = {
        let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 20)
        var power: UInt64 = 1
        for i in 0..<20 {
            table[i] = i == 0 ? 0 : power / 2
            power = i < 19 ? power * 10 : power
        }
        return UnsafePointer(table)
    }()

    /// Number of decimal digits of `v` (1 for 0), without a branch: the bit length gives the power
    /// of ten within one, and the sign of one subtraction settles it (v ≥ 10^g exactly when
    /// ⌊v/2⌋ ≥ 10^g/2, both below 2^63).
    @inline(__always)
    func digitCount(_ v: UInt64) -> Int {
        let bits = 64 - (v | 1).leadingZeroBitCount
        let guess = (bits &* 1233) >> 12 // ⌊bits · log10 2⌋, at most 19
        let below = Int64(bitPattern: (v >> 1) &- halfPowers[guess]) >> 63 // -1 when v < 10^guess, else 0
        return guess &+ 1 &+ Int(truncatingIfNeeded: below)
    }

    /// Longest `address` text: eight 4-digit groups and seven colons.
    static let maxAddressLength = 39
    /// Longest `decimal` text (UInt64.max has 20 digits).
    static let maxDecimalLength = 20
    /// Longest `real` text: a sign, 17 significant digits, a point and an exponent (`-2.2250738585072014e-308`).
    static let maxRealLength = 24

    /// A JSON array of integers (`[0,1,-1]`): at most 2 + count × (maxDecimalLength + 2) bytes.
    @inline(__always)
    mutating func list(_ values: [Int64]) {
        byte(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { byte(UInt8(ascii: ",")) }
            if v < 0 { byte(UInt8(ascii: "-")) }
            decimal(v.magnitude)
        }
        byte(UInt8(ascii: "]"))
    }

    /// A JSON array of the `count` integers at `values`, as `list(_:)` writes them.
    @inline(__always)
    mutating func list(_ values: UnsafePointer<Int64>, _ count: Int) {
        byte(UInt8(ascii: "["))
        for i in 0..<count {
            if i > 0 { byte(UInt8(ascii: ",")) }
            let v = values[i]
            if v < 0 { byte(UInt8(ascii: "-")) }
            decimal(v.magnitude)
        }
        byte(UInt8(ascii: "]"))
    }

    /// A finite Double as its shortest round-trip text (as Python's `repr`: `68.00000000000001`,
    /// `645.0`); not finite (which `mean`/`stddev` never give) as `null`, since JSON has no NaN.
    @inline(__always)
    mutating func real(_ v: Double) {
        // a whole number below 2^53 (a stddev of 0, a mean of equal sizes) is its digits and ".0", as
        // `description` writes it, without building a String
        if v.magnitude < 9_007_199_254_740_992, v == v.rounded(.towardZero) {
            if v.sign == .minus { byte(UInt8(ascii: "-")) }
            decimal(UInt64(v.magnitude))
            byte(UInt8(ascii: "."))
            byte(UInt8(ascii: "0"))
            return
        }
        var text = v.isFinite ? v.description : "null"
        text.withUTF8 { bytes(UnsafePointer($0.baseAddress!), Swift.min($0.count, Self.maxRealLength)) }
    }

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

    /// Bytes `short` and `decimal` may write past the end of their text (whole 16- and 8-byte
    /// stores): a buffer written with them needs this much room beyond its bound, and the sources
    /// of `short` this much readable memory.
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

    /// The eight digits of `v` (< 10^8, leading zeros kept) as ASCII in one integer, the first
    /// digit in the low byte: four lanes, then eight, each split by a multiply-and-shift division
    /// (a/100 = a·10486 >> 20 for a < 10^4, a/10 = a·103 >> 10 for a < 100), with no branch.
    @inline(__always)
    static func eightDigits(_ v: UInt32) -> UInt64 {
        let x = UInt64(v / 10_000) | UInt64(v % 10_000) << 32
        let hundreds = (x &* 10486) >> 20 & 0x0000_007F_0000_007F
        let pairs = hundreds | (x &- hundreds &* 100) << 16
        let tens = (pairs &* 103) >> 10 & 0x000F_000F_000F_000F
        let digits = tens | (pairs &- tens &* 10) << 8
        return digits | 0x3030_3030_3030_3030
    }

    /// Stores the last `count` (1...8) of the eight digits of `v`; writes 8 bytes (see `slack`).
    @inline(__always)
    mutating func lastDigits(_ v: UInt32, _ count: Int) {
        let text = Self.eightDigits(v) >> UInt64(64 - 8 * count)
        UnsafeMutableRawPointer(p).storeBytes(of: text.littleEndian, as: UInt64.self)
        p += count
    }

    /// Stores all eight digits of `v` (< 10^8).
    @inline(__always)
    mutating func eight(_ v: UInt32) {
        UnsafeMutableRawPointer(p).storeBytes(of: Self.eightDigits(v).littleEndian, as: UInt64.self)
        p += 8
    }

    /// `v` in decimal, as `String(v)` writes it: the digit count from one table load, then at most
    /// three 8-digit groups converted without branches (digit lengths vary at random from one
    /// column to the next, so per-digit loops mispredict).
    @inline(__always)
    mutating func decimal(_ v: UInt64) {
        let n = digitCount(v)
        if v < 100_000_000 {
            lastDigits(UInt32(truncatingIfNeeded: v), n)
        } else if v < 10_000_000_000_000_000 {
            lastDigits(UInt32(truncatingIfNeeded: v / 100_000_000), n - 8)
            eight(UInt32(truncatingIfNeeded: v % 100_000_000))
        } else {
            let rest = v % 10_000_000_000_000_000
            lastDigits(UInt32(truncatingIfNeeded: v / 10_000_000_000_000_000), n - 16)
            eight(UInt32(truncatingIfNeeded: rest / 100_000_000))
            eight(UInt32(truncatingIfNeeded: rest % 100_000_000))
        }
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
