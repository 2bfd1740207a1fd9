/// A small deterministic generator (SplitMix64), so a failing flow or a random capture is the same on every run.
public struct SplitMix64: RandomNumberGenerator {
    /// The generator's whole state; the next value is derived from it.
    public var state: UInt64
    /// Starts from `state` as given.
    public init(state: UInt64) { self.state = state }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    /// Starts from `seed` (the memberwise `init(state:)` stays available).
    public init(seed: UInt64) { self.init(state: seed) }
}
