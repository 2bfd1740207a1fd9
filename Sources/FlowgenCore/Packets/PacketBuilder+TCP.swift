extension PacketBuilder {
    /// TCP header fields; nil overrides mean "compute".
    struct TCPFields: Sendable, Hashable {
        var sourcePort: UInt16
        var destinationPort: UInt16
        var sequence: UInt32
        var acknowledgment: UInt32
        var flags: TCPFlags
        var window: UInt16
        var urgentPointer: UInt16
        var options: [UInt8]
        var dataOffset: UInt8?
        var payload: [UInt8]
        var checksum: UInt16?

        func segment(pseudoHeader: PseudoHeader) -> Segment {
            // Options are padded with end-of-list bytes so the data offset is a whole number of words.
            let options = self.options + Array(repeating: 0, count: (4 - self.options.count % 4) % 4)
            let headerLength = 20 + options.count
            let offsetWords = dataOffset ?? UInt8(truncatingIfNeeded: headerLength / 4)
            var bytes = PacketBuilder.wire(sourcePort) + PacketBuilder.wire(destinationPort)
                + PacketBuilder.wire(sequence) + PacketBuilder.wire(acknowledgment)
                + [offsetWords << 4, flags.rawValue]
                + PacketBuilder.wire(window) + [0, 0] + PacketBuilder.wire(urgentPointer)
                + options + payload
            PacketBuilder.fillChecksum(&bytes, at: 16, override: checksum) { pseudoHeader.checksum($0, protocolNumber: 6) }
            return Segment(bytes: bytes, headerLength: headerLength)
        }
    }

    /// Adds a TCP segment; options are padded to a word, `dataOffset` (in words) overrides the computed one.
    public func tcp(
        sport: UInt16 = 40000,
        dport: UInt16 = 80,
        seq: UInt32 = 1,
        ack: UInt32 = 0,
        flags: TCPFlags = [.ack],
        window: UInt16 = 65535,
        urgentPointer: UInt16 = 0,
        options: [TCPOption] = [],
        dataOffset: UInt8? = nil,
        payload: [UInt8] = [],
        checksum: UInt16? = nil
    ) -> PacketBuilder {
        let fields = TCPFields(
            sourcePort: sport, destinationPort: dport, sequence: seq, acknowledgment: ack, flags: flags,
            window: window, urgentPointer: urgentPointer, options: options.flatMap(\.bytes),
            dataOffset: dataOffset, payload: payload, checksum: checksum)
        return withTransport(.tcp(fields), caller: "tcp()")
    }
}
