import Foundation
import Testing
@testable import FlowgenCore

/// `ModuleCostReport`: record bytes per module against layouts worked out by hand from the modules'
/// feature.yaml, the variants measured without each module, and the attribution arithmetic.
@Suite struct ModuleCostTests {
    func plan(_ features: String) throws -> Plan {
        try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: features)
    }

    /// ttl: ttl_min u8 + ttl_max u8 + ttl_hist 11 × u64 = 1 + 1 + 88 = 90 B; tcp: tcp_flags u32 = 4 B;
    /// base: packets, bytes, first_seen, last_seen, 4 × u64 = 32 B. Largest first: 32 + 88 = 120 B
    /// of u64, then the u32 (124), then the two u8 (126); then the presence bits, one u64 word (tcp's
    /// applies_to takes one bit; ttl's min and max are sampled by every packet and need none) at the next multiple of 8, 128: a 136 B record,
    /// 8 B of presence bits, 2 B of padding.
    @Test func recordBytesMatchTheLayoutWorkedOutByHand() throws {
        let report = ModuleCostReport(plan: try plan("ttl,tcp"))
        let bytes = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.feature, $0.recordBytes) })
        #expect(bytes == ["base": 32, "ipv4": 0, "ipv6": 0, "ttl": 90, "tcp": 4])
        #expect(report.recordSize == 136 && report.presenceBytes == 8)
        #expect(report.paddingBytes == 2)
        #expect(report.totalVerifiedInstructions == nil && report.rows.allSatisfy { $0.verifiedInstructions == nil })
        let table = report.table()
        #expect(table.contains("ttl") && table.contains("66.2%"), "\(table)") // 90 / 136
        #expect(table.split(separator: "\n").first { $0.hasPrefix("tcp ") }?.contains("2.9%") == true, "\(table)") // 4 / 136
    }

    /// splt with n=4: splt_n u32 + splt_t 4 × u64 + splt_size 4 × u32 + splt_rc 4 × u32 = 4 + 32 + 16 + 16 = 68 B.
    /// Leaving out ps_stats takes nfstream (which requires it) along and keeps splt's parameter.
    @Test func aModuleIsMeasuredWithoutItsDependentsAndParametersStay() throws {
        let full = try plan("nfstream,splt:n=4")
        #expect(ModuleCostReport.recordBytes(of: "splt", in: full.layout) == 68)
        #expect(ModuleCostReport.dependents(of: "ps_stats", in: full.features) == ["nfstream"])
        #expect(ModuleCostReport.dependents(of: "nfstream", in: full.features) == [])
        let variants = try ModuleCostReport.measurementPlans(of: full)
        let withoutPS = try #require(variants.first { $0.key == "ps_stats" }?.plan)
        #expect(!withoutPS.has("ps_stats") && !withoutPS.has("nfstream") && withoutPS.has("splt") && withoutPS.has("piat_stats"))
        #expect(ModuleCostReport.recordBytes(of: "splt", in: withoutPS.layout) == 68)
        let alone = try #require(variants.first { $0.key == ModuleCostReport.alwaysKey }?.plan)
        #expect(alone.features.map(\.name) == ["base"])
        // one variant per removable module, the whole plan, and the always-on modules alone
        #expect(variants.count == full.features.filter { !$0.always }.count + 2)
        let row = try #require(ModuleCostReport(plan: full).rows.first { $0.feature == "ps_stats" })
        #expect(row.removedWith == ["nfstream"])
    }

    @Test func figuresAreTheTotalMinusTheTotalWithout() throws {
        var report = ModuleCostReport(plan: try plan("ttl,tcp"))
        report.attribute(totals: [nil: 1000, "ipv4": 950, "ipv6": 700, "ttl": 990, ModuleCostReport.alwaysKey: 400])
        let insns = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.feature, $0.verifiedInstructions) })
        // tcp's variant was not measured: its figure stays unknown rather than 0
        #expect(insns == ["base": 400, "ipv4": 50, "ipv6": 300, "ttl": 10, "tcp": nil])
        #expect(report.totalVerifiedInstructions == 1000)
        let ttl = try #require(report.table().split(separator: "\n").first { $0.hasPrefix("ttl ") })
        #expect(ttl.contains(" 10 ") && ttl.contains("1.0%"), "\(ttl)")
        let cost = report.object
        #expect(cost["verified_insns"] as? Int == 1000 && cost["padding_bytes"] as? Int == 2)
    }
}
