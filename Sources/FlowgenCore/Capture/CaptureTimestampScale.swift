/// Turns a capture's timestamp units into ns since the epoch: pcap's µs or ns, and pcapng's
/// `if_tsresol` (10^-n or 2^-n seconds) plus `if_tsoffset` (seconds). Overflow is reported, never wrapped.
struct CaptureTimestampScale: Sendable, Equatable {
    private enum Step: Sendable, Equatable {
        case multiply(UInt64)
        case divide(UInt64)
        case binary(shift: Int)
    }

    private let step: Step
    private let offsetSeconds: Int64

    /// Microseconds (pcap, pcapng default).
    static let microseconds = CaptureTimestampScale(step: .multiply(1_000), offsetSeconds: 0)
    /// Nanoseconds.
    static let nanoseconds = CaptureTimestampScale(step: .multiply(1), offsetSeconds: 0)

    private init(step: Step, offsetSeconds: Int64) {
        self.step = step
        self.offsetSeconds = offsetSeconds
    }

    /// The scale an `if_tsresol` byte announces (MSB clear: 10^-value s, set: 2^-(value & 0x7f) s);
    /// nil for decimal resolutions finer than 10^-19 s, which no 64-bit count can use.
    init?(tsresol: UInt8, offsetSeconds: Int64 = 0) {
        let exponent = Int(tsresol & 0x7F)
        if tsresol & 0x80 != 0 {
            step = .binary(shift: exponent)
        } else if exponent <= 9 {
            var factor: UInt64 = 1
            for _ in exponent..<9 { factor *= 10 }
            step = .multiply(factor)
        } else if exponent <= 19 {
            var divisor: UInt64 = 1
            for _ in 9..<exponent { divisor *= 10 }
            step = .divide(divisor)
        } else {
            return nil
        }
        self.offsetSeconds = offsetSeconds
    }

    /// The same scale with `if_tsoffset` seconds added to every timestamp.
    func offset(by seconds: Int64) -> CaptureTimestampScale {
        CaptureTimestampScale(step: step, offsetSeconds: seconds)
    }

    /// ns since the epoch for `units`, nil when the result is before 1970 or beyond 2554.
    @inline(__always)
    func nanoseconds(_ units: UInt64) -> UInt64? {
        var ns: UInt64
        switch step {
        case let .multiply(factor):
            let (value, overflow) = units.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            ns = value
        case let .divide(divisor):
            ns = units / divisor
        case let .binary(shift):
            let wide = units.multipliedFullWidth(by: 1_000_000_000)
            if shift >= 64 {
                ns = shift >= 128 ? 0 : wide.high >> UInt64(shift - 64)
            } else if shift == 0 {
                if wide.high != 0 { return nil }
                ns = wide.low
            } else {
                if wide.high >> UInt64(shift) != 0 { return nil }
                ns = wide.high << UInt64(64 - shift) | wide.low >> UInt64(shift)
            }
        }
        if offsetSeconds == 0 { return ns }
        let (delta, overflow) = offsetSeconds.magnitude.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return nil }
        if offsetSeconds > 0 {
            let (sum, carry) = ns.addingReportingOverflow(delta)
            return carry ? nil : sum
        }
        return ns >= delta ? ns - delta : nil
    }
}
