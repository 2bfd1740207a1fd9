import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// `RecordDecoder.decode(_:into:)`, which copies runs of same-size fields, against the
/// column-by-column decoding it replaced, for plans with every field type and histograms.
@Suite struct RecordDecoderTests {
    /// The value of one column of a raw record, read as the decoder did before it copied runs.
    static func referenceDecode(_ decoder: RecordDecoder, _ record: UnsafeRawBufferPointer) -> [UInt64] {
        decoder.columns.map { c in
            switch c.size {
            case 8: return record.loadUnaligned(fromByteOffset: c.offset, as: UInt64.self)
            case 4: return UInt64(record.loadUnaligned(fromByteOffset: c.offset, as: UInt32.self))
            case 2: return UInt64(record.loadUnaligned(fromByteOffset: c.offset, as: UInt16.self))
            default: return UInt64(record[c.offset])
            }
        }
    }

    /// Random record bytes, at an odd address so that no load may assume alignment.
    static func randomRecords(_ decoder: RecordDecoder, count: Int, _ g: inout SplitMix64) -> [UInt8] {
        (0..<(1 + count * decoder.recordSize)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    @Test func decodingRunsEqualsDecodingColumnByColumn() throws {
        var g = SplitMix64(seed: 0xDEC0DE)
        for (name, plan) in try FormatterBytesTests.plans() {
            let decoder = RecordDecoder(plan: plan)
            #expect(decoder.runs.reduce(0) { $0 + $1.count } == decoder.columns.count, "\(name): every column in one run")
            let bytes = Self.randomRecords(decoder, count: 50, &g)
            bytes.withUnsafeBytes { raw in
                for i in 0..<50 {
                    let record = UnsafeRawBufferPointer(rebasing: raw[(1 + i * decoder.recordSize)..<(1 + (i + 1) * decoder.recordSize)])
                    let expected = Self.referenceDecode(decoder, record)
                    var got = [UInt64](repeating: 0xAAAA, count: decoder.columns.count + 1)
                    got.withUnsafeMutableBufferPointer { decoder.decode(record.baseAddress!, into: $0.baseAddress!) }
                    #expect(Array(got.dropLast()) == expected, "\(name) record \(i)")
                    #expect(got.last == 0xAAAA, "\(name): nothing written past the record's values")
                    #expect(decoder.decode(key: FlowKey(bytes: UnsafeRawBufferPointer(rebasing: raw[0..<40])), value: record).values == expected)
                }
            }
        }
    }
}
