/// Frames Template and Data Records into IPFIX Messages (RFC 7011 §3): header with export time,
/// sequence number and observation domain, a Template Set first when templates are due, then Data
/// Sets grouping consecutive records of one template, each set padded to a multiple of 4 octets,
/// every message at most `maxMessageSize` octets.
///
/// The sequence number of a message is the number of Data Records encoded for this session before
/// it (modulo 2^32), so a collector sees records that never arrived as a gap. A record that does not
/// fit in an empty message alone still gets a message of its own (up to 65535 octets).
public struct IPFIXMessageEncoder: Sendable {
    /// The Observation Domain ID in every header.
    public let observationDomainID: UInt32
    /// Largest message in octets (UDP: the path MTU minus IP and UDP headers).
    public let maxMessageSize: Int
    /// Data Records encoded so far in this session, modulo 2^32: the next message's sequence number.
    public private(set) var sequenceNumber: UInt32 = 0
    /// Messages encoded since the last one that carried templates.
    public private(set) var messagesSinceTemplates = 0

    /// Creates an encoder for a new session.
    public init(observationDomainID: UInt32, maxMessageSize: Int) {
        precondition((64...FlowgenIPFIX.maxMessageLength).contains(maxMessageSize), "IPFIX messages are 64 to 65535 octets here")
        self.observationDomainID = observationDomainID
        self.maxMessageSize = maxMessageSize
    }

    /// Starts a new transport session (a new TCP connection): sequence numbers restart at 0.
    public mutating func reset() {
        sequenceNumber = 0
        messagesSinceTemplates = 0
    }

    /// Messages carrying `templates` (a Template Set, first) and `records` (Data Sets), in order.
    /// With `repeatTemplatesAfter: N`, a message that starts after N messages without templates
    /// begins with the templates again (template refresh for UDP, RFC 7011 §8.4).
    public mutating func encode(templates: [IPFIXTemplate], records: [IPFIXDataRecord], exportTime: UInt32,
                                repeatTemplatesAfter: Int? = nil, refreshTemplates: [IPFIXTemplate] = []) -> [IPFIXMessage] {
        var builder = Builder(encoder: self, exportTime: exportTime, refresh: refreshTemplates, repeatAfter: repeatTemplatesAfter)
        for t in templates { builder.add(template: t) }
        for r in records { builder.add(record: r) }
        let messages = builder.finish()
        sequenceNumber = builder.sequence
        messagesSinceTemplates = builder.messagesSinceTemplates
        return messages
    }

    /// The state of one `encode` call.
    struct Builder {
        let domain: UInt32
        let max: Int
        let exportTime: UInt32
        var sequence: UInt32
        var messages: [IPFIXMessage] = []
        var buffer: [UInt8] = []
        var setStart = -1
        var setID: UInt16 = 0
        var dataRecords = 0
        var templateRecords = 0
        var messageSequence: UInt32 = 0
        var messagesSinceTemplates: Int
        let refresh: [IPFIXTemplate]
        let repeatAfter: Int?

        init(encoder: IPFIXMessageEncoder, exportTime: UInt32, refresh: [IPFIXTemplate], repeatAfter: Int?) {
            domain = encoder.observationDomainID
            max = encoder.maxMessageSize
            self.exportTime = exportTime
            sequence = encoder.sequenceNumber
            messagesSinceTemplates = encoder.messagesSinceTemplates
            self.refresh = refresh
            self.repeatAfter = repeatAfter
            startMessage()
        }

        var isEmpty: Bool { dataRecords == 0 && templateRecords == 0 }

        static func padded(_ n: Int) -> Int { (n + 3) & ~3 }

        mutating func startMessage() {
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: repeatElement(0, count: FlowgenIPFIX.messageHeaderLength))
            setStart = -1
            dataRecords = 0
            templateRecords = 0
            messageSequence = sequence
        }

        /// Pads the open set to 4 octets and writes its length.
        mutating func closeSet() {
            guard setStart >= 0 else { return }
            let pad = Self.padded(buffer.count - setStart) - (buffer.count - setStart)
            buffer.append(contentsOf: repeatElement(0, count: pad))
            store16(UInt16(buffer.count - setStart), at: setStart + 2)
            setStart = -1
        }

        mutating func openSet(_ id: UInt16) {
            closeSet()
            setStart = buffer.count
            setID = id
            buffer.appendBigEndian(id)
            buffer.appendBigEndian(UInt16(0))
        }

        mutating func store16(_ v: UInt16, at i: Int) {
            buffer[i] = UInt8(v >> 8)
            buffer[i + 1] = UInt8(v & 0xff)
        }

        mutating func store32(_ v: UInt32, at i: Int) {
            for k in 0..<4 { buffer[i + k] = UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * k)) }
        }

        mutating func finishMessage() {
            closeSet()
            store16(FlowgenIPFIX.version, at: 0)
            store16(UInt16(buffer.count), at: 2)
            store32(exportTime, at: 4)
            store32(messageSequence, at: 8)
            store32(domain, at: 12)
            messages.append(IPFIXMessage(bytes: buffer, dataRecords: dataRecords, templateRecords: templateRecords,
                                         sequenceNumber: messageSequence))
            messagesSinceTemplates = templateRecords > 0 ? 0 : messagesSinceTemplates + 1
            startMessage()
        }

        /// The message length if `length` more octets go into a set with id `id`.
        func projected(_ length: Int, inSet id: UInt16) -> Int {
            if setStart >= 0 && setID == id { return setStart + Self.padded(buffer.count - setStart + length) }
            let closed = setStart >= 0 ? setStart + Self.padded(buffer.count - setStart) : buffer.count
            return closed + Self.padded(FlowgenIPFIX.setHeaderLength + length)
        }

        mutating func add(template: IPFIXTemplate) {
            if projected(template.templateRecordLength, inSet: FlowgenIPFIX.templateSetID) > max && !isEmpty { finishMessage() }
            if setStart < 0 || setID != FlowgenIPFIX.templateSetID { openSet(FlowgenIPFIX.templateSetID) }
            template.encodeTemplateRecord(into: &buffer)
            templateRecords += 1
        }

        mutating func add(record: IPFIXDataRecord) {
            if projected(record.bytes.count, inSet: record.templateID) > max && !isEmpty {
                finishMessage()
                if let n = repeatAfter, messagesSinceTemplates >= n {
                    for t in refresh { add(template: t) }
                    if projected(record.bytes.count, inSet: record.templateID) > max && !isEmpty { finishMessage() }
                }
            }
            if setStart < 0 || setID != record.templateID { openSet(record.templateID) }
            buffer.append(contentsOf: record.bytes)
            dataRecords += 1
            sequence &+= 1
        }

        mutating func finish() -> [IPFIXMessage] {
            if !isEmpty { finishMessage() }
            return messages
        }
    }
}
