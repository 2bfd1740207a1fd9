import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenTestSupport

/// Flows that reach every branch of the formatters: IPv4 and IPv6 (with runs of zero groups, and
/// the odd v4-mapped v6 key), one-way flows, ICMP, every end reason, values that mean "no sample",
/// timestamps before and after the epoch, and numbers of every length up to 20 digits.
func randomFlows(_ plan: Plan, count: Int, seed: UInt64) -> [Biflow] {
    var rng = SplitMix64(state: seed)
    let decoder = RecordDecoder(plan: plan)
    let timestamps = Set(["first_seen", "last_seen"].compactMap { decoder.firstColumn[$0] })
    func value(_ column: Int) -> UInt64 {
        switch rng.next() % 8 {
        case 0: return 0
        case 1: return .max                                   // the usual `none`
        case 2: return rng.next()                             // 20 digits and less
        case 3: return rng.next() >> (rng.next() % 64)        // every length
        case 4: return timestamps.contains(column) ? rng.next() % 4_000_000_000_000 : rng.next() % 10
        default: return rng.next() % 100_000
        }
    }
    func address(v6: Bool) -> IPAddress16 {
        if !v6 { return IPAddress16(ipv4: (0..<4).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3 == 0 ? 0 : rng.next()) }) }
        // groups are often zero, so that zero runs of every length and position occur
        let groups: [UInt16] = (0..<8).map { _ in
            switch rng.next() % 4 {
            case 0, 1: return 0
            case 2: return UInt16(truncatingIfNeeded: rng.next() >> (rng.next() % 16 + 48))
            default: return UInt16(truncatingIfNeeded: rng.next())
            }
        }
        return IPAddress16(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
    }
    return (0..<count).map { i in
        let v6 = rng.next() % 3 == 0
        var src = address(v6: v6), dst = address(v6: v6)
        if v6 && rng.next() % 10 == 0 { src = address(v6: false) }        // a v4-mapped address in a v6 key
        if !v6 && rng.next() % 20 == 0 { dst = address(v6: true) }        // and a v6 address in a v4 key
        let proto: UInt8 = [6, 6, 17, 1, 58, 132][Int(rng.next() % 6)]
        let key = FlowKey(src: src, dst: dst, sport: UInt16(truncatingIfNeeded: rng.next()), dport: UInt16(truncatingIfNeeded: rng.next()),
                          proto: proto, ipVersion: v6 ? 6 : 4)
        func record(_ key: FlowKey) -> FlowRecord { FlowRecord(key: key, values: (0..<decoder.columns.count).map(value)) }
        let forward = record(key)
        let reverse = rng.next() % 4 == 0 ? nil : record(key.reversed(icmpKeyed: true))
        let id = rng.next() % 2 == 0 ? UInt64(i) : rng.next()
        return Biflow(id: id, forward: forward, reverse: reverse, endReason: EndReason.allCases[Int(rng.next() % 6)])
    }
}

@Suite struct FormatterBytesTests {
    /// Plans covering every kind of column: the presets, `none` values (dns, tcp_options), histograms
    /// (pkt_len, payload), derived fields (tcp_window) and a module with combined derived timestamps.
    static func plans() throws -> [(String, Plan)] {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("mix", yaml: """
        name: mix
        fields:
          - name: gap
            type: u64
            aggregation: min
            value: "0"
            none: 0xffffffffffffffff
            json: { forward: GAP_IN, reverse: GAP_OUT, combined: GAP }
          - name: stamp
            type: u64
            aggregation: last
            value: pkt->now
            unit: timestamp
            none: 0
            json: { forward: STAMP_IN, reverse: STAMP_OUT, combined: STAMP }
          - name: late
            derive: "peer.last_seen > last_seen ? peer.last_seen : absent"
            aggregation: max
            unit: timestamp
            json: { forward: LATE_IN, reverse: LATE_OUT, combined: LATE }
          - name: ratio
            derive: "bytes / packets"
            aggregation: sum
            json: { forward: RATIO_IN, combined: RATIO }
        """, root: root)
        let resources = try ResourceLocator.locate()
        let modules = try FeatureLoader(searchPaths: [resources.features, root]).loadAll()
        let catalog = try FeatureCatalog(resources: resources)
        return [
            ("base", try catalog.plan(features: "base")),
            ("seed", try catalog.plan(features: "seed")),
            ("wide", try catalog.plan(features: "tcp,icmp,dns,tcp_options,payload,pkt_len,ipv4,ipv6,precise_time")),
            ("mix", try Planner().plan(FeatureSelection("mix,tcp_window,icmp", available: modules))),
        ]
    }

    /// The byte path against the old String formatter, kept in `ReferenceFlowFormatter`: same bytes
    /// for thousands of random flows, per format, plan and epoch offset.
    @Test(arguments: [OutputFormat.json, .csv])
    func bytePathMatchesTheReferenceFormatter(format: OutputFormat) throws {
        for (name, plan) in try Self.plans() {
            let schema = OutputSchema(plan: plan)
            let formatter = FlowFormatter(schema: schema, format: format)
            let reference = ReferenceFlowFormatter(schema: schema, format: format)
            for (round, offset) in [Int64(0), 1_700_000_000_000_000_000, -3_000_000_000_000].enumerated() {
                let flows = randomFlows(plan, count: name == "base" ? 3000 : 800, seed: UInt64(round) * 7919 + UInt64(name.utf8.count))
                let expected = reference.format(flows, epochOffsetNs: offset)
                let got = formatter.format(flows, epochOffsetNs: offset)
                if got != expected {
                    // name the first flow that differs, not just "the batch"
                    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
                    let g = got.split(separator: "\n", omittingEmptySubsequences: false)
                    let i = (0..<min(e.count, g.count)).first { e[$0] != g[$0] } ?? min(e.count, g.count)
                    Issue.record("\(name) \(format) offset \(offset), flow \(i):\nexpected \(i < e.count ? e[i] : "nothing")\ngot      \(i < g.count ? g[i] : "nothing")")
                    continue
                }
                // appending keeps what the buffer held and adds the same bytes
                var buffer: [UInt8] = Array("prefix".utf8)
                formatter.append(flows[..<(flows.count / 2)], epochOffsetNs: offset, to: &buffer)
                formatter.append(flows[(flows.count / 2)...], epochOffsetNs: offset, to: &buffer)
                #expect(buffer == Array("prefix".utf8) + Array(expected.utf8), "\(name) \(format) in two slices")
                #expect(formatter.formatBytes(flows, epochOffsetNs: offset) == Array(expected.utf8))
                // the values of the text table and of other callers, too
                for flow in flows.prefix(200) {
                    #expect(schema.values(of: flow, epochOffsetNs: offset) == reference.values(of: flow, epochOffsetNs: offset), "\(name) flow \(flow.id)")
                }
            }
        }
    }

    /// IPFIX Data Records from the compiled templates against the field walk they replaced.
    @Test func ipfixRecordsMatchTheReferenceEncoder() throws {
        for (name, plan) in try Self.plans() {
            let schema = try IPFIXTemplateBuilder(plan: plan).build()
            for (round, offset) in [Int64(0), 1_700_000_000_000_000_000, -3_000_000_000_000].enumerated() {
                let flows = randomFlows(plan, count: 600, seed: UInt64(round) * 104_729 + UInt64(name.utf8.count))
                var appended: [UInt8] = [0xAB]
                var expectedAppended: [UInt8] = [0xAB]
                for (i, flow) in flows.enumerated() {
                    let template = schema.template(for: flow)
                    let expected = ReferenceIPFIXRecord.bytes(template, flow, epochOffsetNs: offset)
                    let record = schema.record(for: flow, epochOffsetNs: offset)
                    #expect(record.templateID == template.id)
                    if record.bytes != expected {
                        Issue.record("\(name) offset \(offset), flow \(i) (template \(template.id)): \(record.bytes) != \(expected)")
                        break
                    }
                    template.encodeRecord(flow, epochOffsetNs: offset, into: &appended)
                    expectedAppended += expected
                }
                #expect(appended == expectedAppended, "\(name): encodeRecord appends the same octets")
            }
        }
    }

    /// Every pattern of zero and non-zero groups, against the RFC 5952 text `description` gives.
    @Test func addressBytesEqualTheirDescription() {
        var rng = SplitMix64(state: 5952)
        for pattern in 0..<256 {
            for _ in 0..<4 {
                let groups: [UInt16] = (0..<8).map { i in pattern & (1 << i) == 0 ? 0 : UInt16(truncatingIfNeeded: rng.next() >> (rng.next() % 16 + 48)) | 1 }
                let address = IPAddress16(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
                #expect(Self.text(address) == ReferenceFlowFormatter.description(address))
            }
        }
        for quad in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 99, 100], [1, 22, 233, 4]] as [[UInt8]] {
            let address = IPAddress16(ipv4: quad)
            #expect(Self.text(address) == quad.map(String.init).joined(separator: "."))
        }
    }

    /// Decimal text of the byte writer at every length, around every power of ten, and at random.
    @Test func decimalsEqualStringOfTheNumber() {
        var numbers: [UInt64] = [0, 9, 10, 99, 100, .max, .max - 1]
        var p: UInt64 = 1
        while p < UInt64.max / 10 {
            numbers += [p - 1, p, p + 1]
            p *= 10
        }
        numbers += [p - 1, p, p + 1]
        var rng = SplitMix64(state: 10)
        numbers += (0..<20_000).map { _ in rng.next() >> (rng.next() % 64) } + (0..<20_000).map(UInt64.init)
        for n in numbers {
            let text = [UInt8](unsafeUninitializedCapacity: ByteCursor.maxDecimalLength + ByteCursor.slack) { buffer, count in
                var w = ByteCursor(buffer.baseAddress!)
                w.decimal(n)
                count = w.p - buffer.baseAddress!
            }
            #expect(String(decoding: text, as: UTF8.self) == String(n))
        }
    }

    static func text(_ address: IPAddress16) -> String {
        let bytes = [UInt8](unsafeUninitializedCapacity: ByteCursor.maxAddressLength) { buffer, count in
            var w = ByteCursor(buffer.baseAddress!)
            w.address(address)
            count = w.p - buffer.baseAddress!
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
