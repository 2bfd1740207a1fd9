import FlowgenCore
import FlowgenKernel

/// Reads IPFIX Messages (RFC 7011) strictly, remembering templates per observation domain: what a
/// collector does, for tests and diagnostics. Anything RFC 7011 does not allow is an error, not
/// skipped: wrong version, lengths that disagree, a set shorter than its header or running past
/// the message, a Data Set without a known template, padding that is not zeros or not shorter than
/// a record, reserved set ids.
public struct IPFIXMessageDecoder: Sendable {
    /// Templates known per observation domain, by id.
    public private(set) var templates: [UInt32: [UInt16: [IPFIXFieldSpecifier]]] = [:]

    /// Creates a decoder with no templates.
    public init() {}

    /// Decodes back-to-back messages (an RFC 5655 file, a TCP stream); the bytes must end on a message boundary.
    public mutating func decodeStream(_ bytes: [UInt8]) throws -> [IPFIXDecodedMessage] {
        var out: [IPFIXDecodedMessage] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= FlowgenIPFIX.messageHeaderLength else {
                throw IPFIXError.malformed("\(bytes.count - offset) trailing octets at offset \(offset), shorter than a message header")
            }
            let length = Int(Self.u16(bytes, offset + 2))
            guard length >= FlowgenIPFIX.messageHeaderLength, offset + length <= bytes.count else {
                throw IPFIXError.malformed("message at offset \(offset) claims \(length) octets, \(bytes.count - offset) remain")
            }
            out.append(try decode(bytes[offset..<(offset + length)]))
            offset += length
        }
        return out
    }

    /// Decodes exactly one message.
    public mutating func decode(_ message: ArraySlice<UInt8>) throws -> IPFIXDecodedMessage {
        let m = Array(message)
        guard m.count >= FlowgenIPFIX.messageHeaderLength else { throw IPFIXError.malformed("\(m.count) octets, shorter than a message header") }
        let version = Self.u16(m, 0)
        guard version == FlowgenIPFIX.version else { throw IPFIXError.malformed("version \(version), not 10") }
        let length = Int(Self.u16(m, 2))
        guard length == m.count else { throw IPFIXError.malformed("header length \(length), message has \(m.count) octets") }
        let domain = Self.u32(m, 12)
        var result = IPFIXDecodedMessage(length: length, exportTime: Self.u32(m, 4), sequenceNumber: Self.u32(m, 8),
                                         observationDomainID: domain, sets: [], templates: [], records: [])
        var offset = FlowgenIPFIX.messageHeaderLength
        while offset < length {
            guard length - offset >= FlowgenIPFIX.setHeaderLength else {
                throw IPFIXError.malformed("\(length - offset) octets after the last set, shorter than a set header")
            }
            let id = Self.u16(m, offset)
            let setLength = Int(Self.u16(m, offset + 2))
            guard setLength >= FlowgenIPFIX.setHeaderLength, offset + setLength <= length else {
                throw IPFIXError.malformed("set \(id) at offset \(offset) claims \(setLength) octets, \(length - offset) remain")
            }
            let body = Array(m[(offset + 4)..<(offset + setLength)])
            result.sets.append((id, setLength))
            switch id {
            case FlowgenIPFIX.templateSetID:
                for t in try Self.templateRecords(body, options: false) {
                    result.templates.append(t)
                    templates[domain, default: [:]][t.id] = t.fields.isEmpty ? nil : t.fields
                }
            case FlowgenIPFIX.optionsTemplateSetID:
                for t in try Self.templateRecords(body, options: true) {
                    result.templates.append(t)
                    templates[domain, default: [:]][t.id] = t.fields.isEmpty ? nil : t.fields
                }
            case 256...:
                guard let fields = templates[domain]?[id] else {
                    throw IPFIXError.malformed("data set \(id) without a template in observation domain \(domain)")
                }
                result.records += try Self.dataRecords(body, templateID: id, fields: fields)
            default:
                throw IPFIXError.malformed("reserved set id \(id)")
            }
            offset += setLength
        }
        return result
    }

    /// Template (or Options Template) Records of a set body; trailing zero padding shorter than a record is allowed.
    static func templateRecords(_ body: [UInt8], options: Bool) throws -> [(id: UInt16, fields: [IPFIXFieldSpecifier])] {
        var out: [(id: UInt16, fields: [IPFIXFieldSpecifier])] = []
        var o = 0
        while body.count - o >= 4 {
            let id = u16(body, o)
            let count = Int(u16(body, o + 2))
            if id == 0 && count == 0 && body[o...].allSatisfy({ $0 == 0 }) { return out } // padding
            guard id >= 256 || (id == 2 || id == 3) && count == 0 else { throw IPFIXError.malformed("template id \(id) below 256") }
            o += 4
            if options && count > 0 {
                guard body.count - o >= 2 else { throw IPFIXError.malformed("options template \(id) truncated") }
                o += 2 // scope field count
            }
            var fields: [IPFIXFieldSpecifier] = []
            for _ in 0..<count {
                guard body.count - o >= 4 else { throw IPFIXError.malformed("template \(id) truncated") }
                let word = u16(body, o), length = u16(body, o + 2)
                o += 4
                var enterprise: UInt32 = 0
                if word & 0x8000 != 0 {
                    guard body.count - o >= 4 else { throw IPFIXError.malformed("template \(id) truncated in an enterprise number") }
                    enterprise = u32(body, o)
                    o += 4
                }
                guard length > 0 else { throw IPFIXError.malformed("template \(id) has a zero-length field") }
                fields.append(IPFIXFieldSpecifier(id: word & 0x7FFF, length: length, enterprise: enterprise))
            }
            out.append((id, fields))
        }
        guard body[o...].allSatisfy({ $0 == 0 }) else { throw IPFIXError.malformed("template set ends in non-zero octets") }
        return out
    }

    /// Data Records of a set body; the rest must be zero padding shorter than the shortest record.
    static func dataRecords(_ body: [UInt8], templateID: UInt16, fields: [IPFIXFieldSpecifier]) throws -> [IPFIXDecodedRecord] {
        var out: [IPFIXDecodedRecord] = []
        let minimum = fields.reduce(0) { $0 + ($1.length == 65535 ? 1 : Int($1.length)) }
        var o = 0
        while body.count - o >= max(minimum, 1) {
            var values: [(specifier: IPFIXFieldSpecifier, value: [UInt8])] = []
            for f in fields {
                var length = Int(f.length)
                if f.length == 65535 { // variable length (RFC 7011 §7)
                    guard o < body.count else { throw IPFIXError.malformed("record of template \(templateID) truncated") }
                    length = Int(body[o]); o += 1
                    if length == 255 {
                        guard body.count - o >= 2 else { throw IPFIXError.malformed("record of template \(templateID) truncated") }
                        length = Int(u16(body, o)); o += 2
                    }
                }
                guard body.count - o >= length else { throw IPFIXError.malformed("record of template \(templateID) truncated") }
                values.append((f, Array(body[o..<(o + length)])))
                o += length
            }
            out.append(IPFIXDecodedRecord(templateID: templateID, fields: values))
        }
        let rest = body.count - o
        guard rest == 0 || (rest < minimum && body[o...].allSatisfy { $0 == 0 }) else {
            throw IPFIXError.malformed("data set \(templateID) ends in \(rest) octets that are not padding")
        }
        return out
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) << 8 | UInt16(b[o + 1]) }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { UInt32(u16(b, o)) << 16 | UInt32(u16(b, o + 2)) }
}
