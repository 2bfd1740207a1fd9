/// Why a capture file cannot be read (further). Every message is one line that names the file;
/// damage also names the byte offset where reading stopped, so `xxd -s OFFSET FILE` shows it.
public enum CaptureError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be opened or read (`reason` is the system's message).
    case unreadable(path: String, reason: String)
    /// The first bytes are no pcap or pcapng magic number.
    case notACapture(path: String, magic: UInt32)
    /// The file is damaged or cut short at `offset`: a length or field is impossible, or the file ends inside a record.
    case damaged(path: String, offset: UInt64, reason: String)
    /// The capture (or one of its pcapng interfaces) uses a link layer replay does not decode.
    case unsupportedLinkType(path: String, linkType: CaptureLinkType)

    /// The file the error is about.
    public var path: String {
        switch self {
        case let .unreadable(path, _), let .notACapture(path, _), let .damaged(path, _, _), let .unsupportedLinkType(path, _):
            return path
        }
    }

    /// One line: the file, what is wrong, and where.
    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .notACapture(path, magic):
            let gzip = magic >> 16 == 0x1F8B ? "; it is gzip-compressed: decompress it first (zcat FILE > FILE.pcap)" : ""
            return "\(path): not a pcap or pcapng file (magic 0x\(String(magic, radix: 16, uppercase: true)) at byte 0)\(gzip)"
        case let .damaged(path, offset, reason):
            return "\(path): damaged capture at byte \(offset): \(reason)"
        case let .unsupportedLinkType(path, linkType):
            return "\(path): link type \(linkType.rawValue) (\(linkType.name)) is not supported; replay reads "
                + "Ethernet, raw IP, Linux cooked (SLL, SLL2), BSD loopback, PPP, Cisco HDLC, Frame Relay, SLIP, "
                + "IEEE 802.11 (radiotap), ARCNET, ATM LLC/SNAP and IPoIB captures"
        }
    }
}
