import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport
@testable import FlowgenBench

/// What a module costs, as users ask for it: `flowgen features --cost`, the `cost` object of
/// `flowgen build --emit plan`, and the per-module rows of the kernel benchmark.
@Suite(.serialized) struct ModuleCostCommandTests {
    /// The summed "N insns verified" figures of a `flowgen build` summary line.
    func verifiedTotal(_ summary: String) throws -> Int {
        let counts = summary.split(separator: ",").compactMap { part -> Int? in
            guard part.contains("insns verified") else { return nil }
            return part.split(separator: " ").compactMap { Int($0) }.first
        }
        try #require(!counts.isEmpty, "no verified count in \(summary)")
        return counts.reduce(0, +)
    }

    /// The cells of the `--cost` table row of `module`.
    func row(_ module: String, in table: String) throws -> [String] {
        let line = try #require(table.split(separator: "\n").first { $0.split(separator: " ").first == Substring(module) }, "no \(module) row in \(table)")
        return line.split(separator: " ").map(String.init)
    }

    @Test func aModulesFigureIsTheDifferenceOfTwoIndependentBuilds() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let dir = NSTemporaryDirectory() + "fccost-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // three caches, so no figure is read back from another command's remembered verdicts
        let base = try ProcessRunner.run([flowgen, "build", "--cache-dir", dir + "/base"])
        let ttl = try ProcessRunner.run([flowgen, "build", "--features", "ttl", "--cache-dir", dir + "/ttl"])
        #expect(base.succeeded && ttl.succeeded, "\(base.stderr)\(ttl.stderr)")
        let expected = try verifiedTotal(ttl.stdout) - verifiedTotal(base.stdout)

        let args = [flowgen, "features", "--cost", "--features", "ttl", "--cache-dir", dir + "/cost"]
        let first = try ProcessRunner.run(args)
        #expect(first.succeeded, "\(first.stderr)")
        let cells = try row("ttl", in: first.stdout)
        #expect(cells[1] == "90", "\(cells)") // ttl_min u8 + ttl_max u8 + ttl_hist 11 × u64
        #expect(Int(cells[3]) == expected, "features --cost says \(cells[3]), the two builds differ by \(expected)")
        let total = try row("total", in: first.stdout)
        #expect(Int(total[3]) == (try verifiedTotal(ttl.stdout)), "\(total)")
        #expect(first.stderr.contains("verifying 1 of"), "no progress line: \(first.stderr)")
        // the second time every variant's verdict is remembered: nothing to verify, the same table
        let second = try ProcessRunner.run(args)
        #expect(second.succeeded && !second.stderr.contains("verifying"), "\(second.stderr)")
        #expect(second.stdout == first.stdout)

        // build --emit plan carries the record bytes; with --cost the same instruction figures
        let bare = try ProcessRunner.run([flowgen, "build", "--features", "ttl", "--emit", "plan", "--cache-dir", dir + "/cost"])
        let bareDocument = try #require(try JSONSerialization.jsonObject(with: Data(bare.stdout.utf8)) as? [String: Any], "\(bare.stderr)")
        let bareModule = try #require(((bareDocument["cost"] as? [String: Any])?["modules"] as? [[String: Any]])?.first { $0["feature"] as? String == "ttl" })
        #expect(bareModule["record_bytes"] as? Int == 90 && bareModule["verified_insns"] is NSNull, "\(bareModule)")
        let lone = try ProcessRunner.run([flowgen, "build", "--features", "ttl", "--cost", "--cache-dir", dir + "/cost"])
        #expect(!lone.succeeded && lone.stderr.contains("--cost goes with --emit plan"), "\(lone.stderr)")
        let plan = try ProcessRunner.run([flowgen, "build", "--features", "ttl", "--emit", "plan", "--cost", "--cache-dir", dir + "/cost"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any], "\(plan.stderr)")
        let cost = try #require(document["cost"] as? [String: Any])
        let module = try #require((cost["modules"] as? [[String: Any]])?.first { $0["feature"] as? String == "ttl" })
        #expect(module["record_bytes"] as? Int == 90 && module["verified_insns"] as? Int == expected, "\(module)")
        #expect(cost["record_bytes"] as? Int == 128 && cost["presence_bytes"] as? Int == 0 && cost["padding_bytes"] as? Int == 6, "\(cost)") // 32 + 90 = 122 → 128; ttl's min/max are sampled by every packet, so no presence bits
    }

    @Test func withoutRootCostShowsRecordBytesAndSaysWhyNoInstructions() throws {
        let copy = try UnprivilegedCopy()
        defer { copy.remove() }
        let r = try ProcessRunner.run(copy.asNobody(["features", "--cost", "--features", "ttl,tcp"]))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try row("ttl", in: r.stdout)[1] == "90" && (try row("tcp", in: r.stdout))[1] == "4", "\(r.stdout)")
        #expect(try row("ttl", in: r.stdout)[3] == "-", "\(r.stdout)")
        #expect(r.stderr.contains("needs root"), "\(r.stderr)")
    }

    @Test func costHelpAndErrors() throws {
        let flowgen = try flowgenBinary()
        let help = try ProcessRunner.run([flowgen, "features", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("--cost") && help.contains("record bytes"), "\(help)")
        let both = try ProcessRunner.run([flowgen, "features", "--cost", "--ipfix"])
        #expect(both.status != 0 && both.stderr.contains("--cost cannot be combined with --ipfix"), "\(both.stderr)")
        let typo = try ProcessRunner.run([flowgen, "features", "--cost", "--features", "tttl"])
        #expect(typo.status != 0 && typo.stderr.contains("did you mean 'ttl'"), "\(typo.stderr)")
        let benchHelp = try ProcessRunner.run([flowgen, "bench", "--help"]).stdout
        #expect(benchHelp.contains("--only modules"), "\(benchHelp)")
        let section = try ProcessRunner.run([flowgen, "bench", "--only", "module"])
        #expect(section.status != 0 && section.stderr.contains("unknown section 'module'") && section.stderr.contains("modules"), "\(section.stderr)")
    }

    /// The per-module rows give a figure for every module and packet class on both paths (how big
    /// is the benchmark's business, not this test's).
    @Test func benchPerModuleRowsGiveANumberPerModule() throws {
        try requireRoot()
        var options = BenchOptions(resources: try ResourceLocator.locate(), compiler: ClangCompiler())
        options.useQuickProfile()
        options.kernelRepetitions = 2
        options.newFlowRepetitions = 2
        options.modules = ["ttl", "tcp"]
        let context = try BenchContext(options: options, log: { _ in })
        #expect(context.featureSets.map(\.label) == ["base", "base+tcp", "base+ttl"])
        let kernel = try KernelBenchmark(context: context).run()
        let modules = try #require(ModuleOverBase(kernel: kernel))
        #expect(modules.rows.map(\.module).sorted() == ["tcp", "ttl"])
        for row in modules.rows {
            for traffic in BenchTraffic.allCases {
                #expect(row.existingFlow[traffic.rawValue]?.isFinite == true, "\(row.module) \(traffic.rawValue) existing flow")
                #expect(row.newFlow[traffic.rawValue]?.isFinite == true, "\(row.module) \(traffic.rawValue) new flow")
            }
        }
        let text = modules.render()
        #expect(text.contains("Per module, existing flow") && text.contains("Per module, new flow"), "\(text)")
    }

    /// The per-module figure is the median of per-round differences, worked out by hand: base
    /// 60, 70, 80 ns and base+m 70, 75, 100 ns give differences 10, 5, 20, median 10 (the difference
    /// of the medians would say 5). A default module's row (measured by leaving the others out)
    /// is not set against base; a module's requirements are listed with it.
    @Test func perModuleFiguresArePairedDifferencesOfTheSameRounds() throws {
        func cell(_ values: [Double], tracked: Bool = true) -> KernelBenchResult.Cell {
            .init(traffic: BenchTraffic.ipv4TCP.rawValue, tracked: tracked, samples: BenchSamples(values),
                  nsPerPacket: BenchSamples(values).median, ratioToMinimal: nil, netRatioToMinimal: nil)
        }
        func row(_ label: String, _ kind: String, _ selection: String, _ features: [String], _ insns: [Int],
                 _ existing: [Double], _ fresh: [Double]) -> KernelBenchResult.Row {
            .init(label: label, kind: kind, selection: selection, features: features, unavailable: nil, verifiedInstructions: insns,
                  existingFlow: [cell(existing)], newFlow: [cell(fresh)], existingFlowTarget: nil, newFlowTarget: nil)
        }
        let base = ["base", "ipv4", "ipv6"]
        let result = KernelBenchResult(
            method: .init(existingFlowRepeat: 1, existingFlowRepetitions: 3, newFlowBatch: 1, newFlowRepetitions: 3,
                          maxFlows: 16, newFlowDriverOverhead: [:]),
            rows: [row("base", "preset", "", base, [100], [60, 70, 80], [500, 400, 450]),
                   row("base+ipv4 (-ipv6)", "module", "-ipv6", ["base", "ipv4"], [60], [50, 50, 50], [300, 300, 300]),
                   row("base+m", "module", "m", base + ["m"], [150], [70, 75, 100], [530, 410, 500]),
                   row("base+n", "module", "n", base + ["dep", "n"], [90, 40], [61, 71, 81], [400, 400, 400])])
        let modules = try #require(ModuleOverBase(kernel: result))
        #expect(modules.inBase == ["ipv4"])
        let m = try #require(modules.rows.first { $0.module == "m" })
        #expect(m.existingFlow[BenchTraffic.ipv4TCP.rawValue] == 10)
        #expect(m.newFlow[BenchTraffic.ipv4TCP.rawValue] == 30) // 30, 10, 50
        #expect(m.verifiedInstructions == 50)
        let n = try #require(modules.rows.first { $0.module == "n" })
        #expect(n.added == ["dep", "n"] && n.verifiedInstructions == 30) // 90 + 40 − 100
        #expect(n.newFlow[BenchTraffic.ipv4TCP.rawValue] == -50) // −100, 0, −50
        #expect(modules.render().contains("n (+dep)"))
    }
}
