/// Abstract data types of IPFIX information elements (RFC 7011 §6.1) that flowgen encodes.
public enum IPFIXDataType: String, Sendable, Equatable {
    /// Unsigned integers; reduced-size encoding (RFC 7011 §6.2) may shorten them.
    case unsigned8, unsigned16, unsigned32, unsigned64
    /// An IPv4 address, 4 octets.
    case ipv4Address
    /// An IPv6 address, 16 octets.
    case ipv6Address
    /// Seconds since the Unix epoch, 4 octets.
    case dateTimeSeconds
    /// Milliseconds since the Unix epoch, 8 octets.
    case dateTimeMilliseconds
    /// NTP format (seconds since 1900, 32-bit fraction), microsecond precision, 8 octets.
    case dateTimeMicroseconds
    /// NTP format, nanosecond precision, 8 octets.
    case dateTimeNanoseconds

    /// The element's natural length in octets.
    public var naturalLength: Int {
        switch self {
        case .unsigned8: return 1
        case .unsigned16: return 2
        case .unsigned32, .ipv4Address, .dateTimeSeconds: return 4
        case .unsigned64, .dateTimeMilliseconds, .dateTimeMicroseconds, .dateTimeNanoseconds: return 8
        case .ipv6Address: return 16
        }
    }

    /// Whether values are points in time.
    public var isDateTime: Bool {
        switch self {
        case .dateTimeSeconds, .dateTimeMilliseconds, .dateTimeMicroseconds, .dateTimeNanoseconds: return true
        default: return false
        }
    }

    /// The unsigned type of a field of `size` octets.
    public static func unsigned(size: Int) -> IPFIXDataType {
        switch size {
        case 1: return .unsigned8
        case 2: return .unsigned16
        case 4: return .unsigned32
        default: return .unsigned64
        }
    }
}
