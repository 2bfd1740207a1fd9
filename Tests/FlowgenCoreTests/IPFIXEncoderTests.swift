import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// A two-field template (protocol, reverse packets: 9 octets, so Data Sets need padding).
let tinyTemplate = IPFIXTemplate(id: 256, fields: [
    IPFIXTemplateField(specifier: IPFIXFieldSpecifier(id: 4, length: 1), name: "protocolIdentifier", type: .unsigned8, source: .protocolIdentifier),
    IPFIXTemplateField(specifier: IPFIXFieldSpecifier(id: 2, length: 8, enterprise: 29305), name: "reversePacketDeltaCount",
                       type: .unsigned64, source: .flowID),
], ipVersion: 4, isBiflow: true)

func tinyRecord(_ proto: UInt8, _ packets: UInt64, template: UInt16 = 256) -> IPFIXDataRecord {
    var bytes: [UInt8] = [proto]
    bytes.appendUnsigned(packets, length: 8)
    return IPFIXDataRecord(templateID: template, bytes: bytes)
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite struct IPFIXEncoderTests {
    @Test func messageIsByteExact() throws {
        var encoder = IPFIXMessageEncoder(observationDomainID: 7, maxMessageSize: 1472)
        let messages = encoder.encode(templates: [tinyTemplate], records: [tinyRecord(6, 9)], exportTime: 0x5F5E_1000)
        #expect(messages.count == 1)
        let expected = "000a0034" + "5f5e1000" + "00000000" + "00000007"        // header: version, length 52, export time, sequence, domain
            + "00020014" + "01000002" + "00040001" + "80020008" + "00007279"     // template set: 256, 2 fields, 4/1, 29305/2/8
            + "01000010" + "06" + "0000000000000009" + "000000"                   // data set 256: 16 octets with 3 of padding
        #expect(hex(messages[0].bytes) == expected)
        #expect(messages[0].dataRecords == 1 && messages[0].templateRecords == 1 && messages[0].sequenceNumber == 0)
        #expect(encoder.sequenceNumber == 1)
    }

    @Test func sequenceNumbersCountDataRecordsOfEarlierMessages() throws {
        var encoder = IPFIXMessageEncoder(observationDomainID: 1, maxMessageSize: 1472)
        let first = encoder.encode(templates: [tinyTemplate], records: (0..<3).map { tinyRecord(17, $0) }, exportTime: 1)
        let templatesOnly = encoder.encode(templates: [tinyTemplate], records: [], exportTime: 2)
        let second = encoder.encode(templates: [], records: (0..<2).map { tinyRecord(6, $0) }, exportTime: 3)
        #expect(first.map(\.sequenceNumber) == [0])
        #expect(templatesOnly.map(\.sequenceNumber) == [3] && templatesOnly[0].dataRecords == 0)
        #expect(second.map(\.sequenceNumber) == [3])
        #expect(encoder.sequenceNumber == 5)
        var decoder = IPFIXMessageDecoder()
        let decoded = try decoder.decodeStream((first + templatesOnly + second).flatMap(\.bytes))
        #expect(decoded.map(\.sequenceNumber) == [0, 3, 3])
        #expect(decoded.map(\.exportTime) == [1, 2, 3])
        encoder.reset()
        #expect(encoder.encode(templates: [], records: [tinyRecord(6, 1)], exportTime: 4)[0].sequenceNumber == 0)
    }

    @Test func splitsAtTheMessageSizeAndPadsEverySet() throws {
        var encoder = IPFIXMessageEncoder(observationDomainID: 3, maxMessageSize: 100)
        let records = (0..<20).map { tinyRecord(6, UInt64($0)) }
        let messages = encoder.encode(templates: [], records: records, exportTime: 9)
        // 16 header + 4 set header + 8 × 9 = 92 (+0 padding) fits, 9 records would need 104
        #expect(messages.map(\.dataRecords) == [8, 8, 4])
        #expect(messages.map(\.sequenceNumber) == [0, 8, 16])
        for m in messages {
            #expect(m.bytes.count <= 100)
            #expect(Int(m.bytes[2]) << 8 | Int(m.bytes[3]) == m.bytes.count)
            let setLength = Int(m.bytes[18]) << 8 | Int(m.bytes[19])
            #expect(setLength % 4 == 0 && 16 + setLength == m.bytes.count)
        }
        // the last set: 4 + 4 × 9 = 40, already aligned; a set of 3 records needs 1 octet of padding
        let three = encoder.encode(templates: [], records: Array(records.prefix(3)), exportTime: 9)[0]
        #expect(three.bytes.count == 16 + 32 && Array(three.bytes.suffix(1)) == [0])
        var decoder = IPFIXMessageDecoder()
        _ = try decoder.decode(IPFIXMessageEncoder(observationDomainID: 3, maxMessageSize: 100).encodeTemplatesOnly(tinyTemplate)[...])
        let decoded = try decoder.decodeStream(messages.flatMap(\.bytes))
        #expect(decoded.flatMap(\.records).compactMap { $0.unsigned(2, enterprise: 29305) } == (0..<20).map(UInt64.init))
        #expect(decoded.allSatisfy { $0.observationDomainID == 3 && $0.sets.map(\.id) == [256] })
    }

    @Test func recordsOfDifferentTemplatesGoInSeparateSetsAndTemplatesComeFirst() throws {
        let other = IPFIXTemplate(id: 257, fields: tinyTemplate.fields, ipVersion: 6, isBiflow: true)
        var encoder = IPFIXMessageEncoder(observationDomainID: 0, maxMessageSize: 1472)
        let records = [tinyRecord(6, 1), tinyRecord(6, 2, template: 257), tinyRecord(6, 3, template: 257), tinyRecord(6, 4)]
        let messages = encoder.encode(templates: [tinyTemplate, other], records: records, exportTime: 0)
        var decoder = IPFIXMessageDecoder()
        let m = try decoder.decode(messages[0].bytes[...])
        #expect(m.sets.map(\.id) == [2, 256, 257, 256])
        #expect(m.sets.map(\.length) == [4 + 2 * 16, 16, 4 + 18 + 2, 16])
        #expect(m.templates.map(\.id) == [256, 257])
        #expect(m.records.map(\.templateID) == [256, 257, 257, 256])
    }

    @Test func templatesRepeatAfterTheConfiguredMessageCount() throws {
        var encoder = IPFIXMessageEncoder(observationDomainID: 0, maxMessageSize: 100)
        let records = (0..<60).map { tinyRecord(6, UInt64($0)) }
        let messages = encoder.encode(templates: [tinyTemplate], records: records, exportTime: 0,
                                      repeatTemplatesAfter: 2, refreshTemplates: [tinyTemplate])
        // templates in the first message, then again in every message after two without them
        let withTemplates = messages.enumerated().filter { $0.element.templateRecords > 0 }.map(\.offset)
        #expect(withTemplates.first == 0)
        #expect(zip(withTemplates, withTemplates.dropFirst()).allSatisfy { $1 - $0 == 3 })
        #expect(withTemplates.count == (messages.count + 2) / 3)
        #expect(messages.reduce(0) { $0 + $1.dataRecords } == 60)
        #expect(messages.allSatisfy { $0.bytes.count <= 100 })
        var decoder = IPFIXMessageDecoder()
        let decoded = try decoder.decodeStream(messages.flatMap(\.bytes))
        #expect(decoded.flatMap(\.records).count == 60)
    }

    @Test func aRecordLargerThanTheMessageSizeTravelsAlone() throws {
        let wide = IPFIXTemplate(id: 300, fields: (0..<20).map { i in
            IPFIXTemplateField(specifier: IPFIXFieldSpecifier(id: UInt16(i + 1), length: 8, enterprise: FlowgenIPFIX.privateEnterpriseNumber),
                               name: "x\(i)", type: .unsigned64, source: .flowID)
        }, ipVersion: 4, isBiflow: false)
        var encoder = IPFIXMessageEncoder(observationDomainID: 0, maxMessageSize: 100)
        let big = IPFIXDataRecord(templateID: 300, bytes: [UInt8](repeating: 1, count: 160))
        let messages = encoder.encode(templates: [], records: [tinyRecord(6, 1), big, tinyRecord(6, 2)], exportTime: 0)
        #expect(messages.map(\.dataRecords) == [1, 1, 1])
        #expect(messages[1].bytes.count == 16 + 4 + 160)
        #expect(wide.recordLength == 160)
    }

    @Test func decoderRejectsWhatRFC7011DoesNotAllow() throws {
        var encoder = IPFIXMessageEncoder(observationDomainID: 0, maxMessageSize: 1472)
        let good = encoder.encode(templates: [tinyTemplate], records: [tinyRecord(6, 1)], exportTime: 0)[0].bytes
        func rejects(_ bytes: [UInt8], _ what: String) {
            var decoder = IPFIXMessageDecoder()
            #expect(throws: IPFIXError.self, "\(what)") { try decoder.decode(bytes[...]) }
        }
        var badVersion = good; badVersion[1] = 9
        rejects(badVersion, "version 9")
        var badLength = good; badLength[3] += 4
        rejects(badLength, "message length")
        var badSet = good; badSet[16 + 3] = 200
        rejects(badSet, "set length past the message")
        var dirtyPadding = good; dirtyPadding[good.count - 1] = 1
        rejects(dirtyPadding, "non-zero padding")
        var noTemplate = IPFIXMessageDecoder()
        #expect(throws: IPFIXError.self) { try noTemplate.decode(encoder.encode(templates: [], records: [tinyRecord(6, 1)], exportTime: 0)[0].bytes[...]) }
        var decoder = IPFIXMessageDecoder()
        #expect(try decoder.decode(good[...]).records.count == 1)
    }

    @Test func reducedSizeEncodingSaturates() {
        var out: [UInt8] = []
        out.appendUnsigned(0x1_0000, length: 2)
        out.appendUnsigned(0x1234, length: 2)
        out.appendUnsigned(5, length: 1)
        #expect(out == [0xff, 0xff, 0x12, 0x34, 5])
    }

    @Test func destinationsParse() throws {
        #expect(try IPFIXDestination(parsing: "udp://127.0.0.1:9995") == .udp(host: "127.0.0.1", port: 9995))
        #expect(try IPFIXDestination(parsing: "tcp://[::1]:4740") == .tcp(host: "::1", port: 4740))
        #expect(try IPFIXDestination(parsing: "udp://collector.example") == .udp(host: "collector.example", port: 4739))
        #expect(try IPFIXDestination(parsing: "file:///var/tmp/flows.ipfix") == .file(path: "/var/tmp/flows.ipfix"))
        #expect(try IPFIXDestination(parsing: "tcp://[::1]:4740").description == "tcp://[::1]:4740")
        for bad in ["127.0.0.1:4739", "http://x:1", "udp://:4739", "udp://h:0", "udp://h:70000", "udp://::1:4739", "file://"] {
            #expect(throws: IPFIXError.self, "\(bad)") { try IPFIXDestination(parsing: bad) }
        }
    }
}

extension IPFIXMessageEncoder {
    /// A message with only `template`, so a decoder learns it.
    func encodeTemplatesOnly(_ template: IPFIXTemplate) -> [UInt8] {
        var copy = self
        return copy.encode(templates: [template], records: [], exportTime: 0)[0].bytes
    }
}
