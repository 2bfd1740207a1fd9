/// What a pcapng Interface Description Block says about the packets that refer to it.
struct PcapngInterface: Sendable, Equatable {
    /// The interface's link type.
    var linkType: CaptureLinkType
    /// Snapshot length (0: unlimited); simple packet blocks are cut to it.
    var snapLength: Int
    /// Timestamp units and offset (`if_tsresol`, `if_tsoffset`).
    var scale: CaptureTimestampScale
}
