/// One packet as read from a capture file. `bytes` points into the reader's buffer and stays valid
/// only until the reader's next call: copy what must outlive it.
public struct CapturePacket {
    /// Capture time in ns since the Unix epoch (pcapng: with the interface's resolution and offset applied).
    public var timestampNs: UInt64
    /// The link layer `bytes` starts with.
    public var linkType: CaptureLinkType
    /// pcapng interface number (0 for pcap).
    public var interface: Int
    /// Length of the packet on the wire (at least `bytes.count` in sane files).
    public var originalLength: Int
    /// The captured bytes (cut to the snapshot length), starting with the link header.
    public var bytes: UnsafeRawBufferPointer
    /// File offset of the record (pcap) or block (pcapng) that holds the packet.
    public var offset: UInt64
    /// 0-based number of the packet in its file.
    public var index: Int
}
