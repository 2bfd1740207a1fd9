import Foundation
import Testing
@testable import FlowgenCore

/// Absurd modules and plans fail early, before code generation, with the limit named.
@Suite struct FeatureLimitTests {
    /// `count` u64 sum fields as compact YAML, about 50 bytes each.
    static func manyFields(_ count: Int) -> String {
        "name: big\nfields:\n" + (0..<count).map { "  - { name: f\($0), aggregation: sum, value: \"1\", export: false }\n" }.joined()
    }

    /// The error `body` throws, which must be an `overLimit` of `limit`; nil (and an issue) otherwise.
    func overLimit(_ limit: FeatureLimit, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> String? {
        do {
            try body()
            Issue.record("expected the \(limit.name) limit", sourceLocation: sourceLocation)
        } catch let error as FeatureError {
            guard case let .overLimit(got, message) = error, got == limit else {
                Issue.record("expected the \(limit.name) limit, got \(error)", sourceLocation: sourceLocation)
                return nil
            }
            #expect("\(error)".hasSuffix("(limit: \(limit.name))"), sourceLocation: sourceLocation)
            return message
        } catch {
            Issue.record("expected the \(limit.name) limit, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// The reported module: 20,000 fields ran clang for two minutes and crashed it.
    @Test func twentyThousandFieldsAreRefusedQuickly() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let yaml = Self.manyFields(20_000)
        let path = try writeModule("big", yaml: yaml, root: root)
        let clock = ContinuousClock()
        let start = clock.now
        // about 1 MB: refused by size, after reading one byte more than 256 KiB
        let message = overLimit(.specFileBytes) { _ = try FeatureLoader.load(specPath: path) }
        #expect(message == "feature.yaml '\(path)' holds more than 262144 bytes; at most 262144 bytes")
        #expect(overLimit(.specFileBytes) { _ = try FeatureLoader.parse(yaml: yaml, specPath: path) } != nil)
        // the same fields made in code reach the planner, which counts before laying anything out
        let fields = (0..<20_000).map { FieldSpec(name: "f\($0)", type: .u64, aggregation: .sum, value: "1", location: "big.yaml:\($0 + 3)") }
        let module = FeatureModule(name: "big", fields: fields)
        let planned = overLimit(.fieldsPerModule) { _ = try Planner().plan(FeatureSelection(modules: [module])) }
        #expect(planned == "feature 'big' (big.yaml:3) declares 20000 fields; at most 256 fields per module")
        #expect(clock.now - start < .milliseconds(500))
    }

    @Test func fieldsPerModuleAreCountedBeforeParsingThem() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // 257 fields are some 13 KB, well within the file size limit; 256 load. The error points
        // at the list, which starts on line 3
        let path = try writeModule("big", yaml: Self.manyFields(257), root: root)
        let message = overLimit(.fieldsPerModule) { _ = try FeatureLoader.load(specPath: path) }
        #expect(message == "feature 'big' (\(path):3) declares 257 fields; at most 256 fields per module")
        try Self.manyFields(256).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try FeatureLoader.load(specPath: path).fields.count == 256)
    }

    /// Four histograms of 64 u64 bins are 4 × 64 × 8 = 2048 bytes, the limit; one u8 more pads
    /// the record to 2056.
    @Test func recordsAboveTheByteLimitAreRefused() throws {
        let histograms = (0..<4).map { FieldSpec(name: "h\($0)", type: .u64, count: 64, aggregation: .histogram(bins: 64), value: "0") }
        let full = FeatureModule(name: "full", fields: histograms, always: true)
        #expect(try Planner().plan(FeatureSelection("", available: [full])).layout.size == 2048)
        var over = full
        over.fields.append(FieldSpec(name: "one", type: .u8, aggregation: .max, value: "1"))
        let message = overLimit(.recordBytes) { _ = try Planner().plan(FeatureSelection("", available: [over])) }
        #expect(message == "features full need a 2056-byte record per direction (the largest field: 'h0' of 'full', 512 bytes); at most 2048 bytes")
    }

    @Test func plansOfTooManyFieldsOrModulesAreRefused() throws {
        // 3 × 200 u8 fields: 600 fields in a 600-byte record, so the field count is what is over
        let modules = (0..<3).map { m in
            FeatureModule(name: "m\(m)", fields: (0..<200).map { FieldSpec(name: "m\(m)_f\($0)", type: .u8, aggregation: .max, value: "1") })
        }
        let message = overLimit(.fieldsPerPlan) { _ = try Planner().plan(FeatureSelection(modules: modules)) }
        #expect(message == "the selected features m0,m1,m2 declare 600 fields; at most 512 fields per plan")
        #expect(throws: Never.self) { try Planner().plan(FeatureSelection(modules: Array(modules.prefix(2)))) }

        let many = (0..<65).map { FeatureModule(name: "m\($0)") }
        #expect(overLimit(.modulesPerPlan) { _ = try Planner().plan(FeatureSelection(modules: many)) } == "the selection has 65 features; at most 64 features per plan")
        #expect(throws: Never.self) { try Planner().plan(FeatureSelection(modules: Array(many.prefix(64)))) }
    }

    @Test func cFilesAboveTheSizeLimitAreRefused() throws {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let limit = 256 * 1024
        let line = String(repeating: "/", count: 63) + "\n"      // 64 bytes
        let exact = String(repeating: line, count: limit / 64)
        let path = try writeModule("m", yaml: "name: m\nupdate: update.bpf.c\n", files: ["update.bpf.c": exact], root: root)
        #expect(try FeatureLoader.load(specPath: path).update?.text.utf8.count == limit)
        try (exact + "\n").write(toFile: root + "/m/update.bpf.c", atomically: true, encoding: .utf8)
        let message = overLimit(.cFileBytes) { _ = try FeatureLoader.load(specPath: path) }
        #expect(message == "\(path):2: update file '\(root)/m/update.bpf.c' holds more than 262144 bytes; at most 262144 bytes")
    }

    @Test func histogramsAndExpressionsHaveTheirLimits() throws {
        try expectMalformed("name: m\nfields:\n  - name: h\n    aggregation: histogram\n    bins: 65\n    value: \"0\"\n",
                            line: 4, containing: "between 2 and 64 (limit: histogram bins)")
        let long = String(repeating: "1+", count: 512) + "1"    // 1025 characters
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: sum\n    value: \"\(long)\"\n",
                            line: 5, containing: "is 1025 characters long; at most 1024 (limit: expression length)")
        try expectMalformed("name: m\nfields:\n  - name: x\n    aggregation: sum\n    value: \"1\"\n    export: false\n  - name: d\n    derive: \"\(long)\"\n",
                            line: 8, containing: "is 1025 characters long; at most 1024 (limit: expression length)")
        // derive nests 32 deep, not 33: parentheses, calls, unary operators and ?: alike
        for nest in [{ (n: Int) in String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n) },
                     { (n: Int) in String(repeating: "max(", count: n) + "1" + String(repeating: ")", count: n) },
                     { (n: Int) in String(repeating: "!", count: n) + "1" },
                     { (n: Int) in String(repeating: "1 ? ", count: n) + "1" + String(repeating: " : 0", count: n) }] {
            #expect(throws: Never.self) { try DeriveExpression.parse(nest(32)) }
            #expect(throws: DeriveSyntaxError.self) { try DeriveExpression.parse(nest(33)) }
            do {
                _ = try DeriveExpression.parse(nest(33))
            } catch {
                #expect("\(error)".contains("nested more than 32 deep (limit: derive nesting)"))
            }
        }
    }

    /// The built-in modules, `all` and the `seed` preset included, plan, and with room: at most
    /// half of every plan limit and a quarter of the per-module ones. Measured when the limits were
    /// set: all is 16 modules, 69 fields, a 632-byte record; the largest module 14 fields, the
    /// largest histogram 16 bins, the largest files under 3 KiB.
    /// Every other combination of built-in modules is a subset of `all`, so it plans too: names
    /// unique in `all` are unique in a subset, and every limit only counts up.
    @Test func builtInPlansStayWellUnderTheLimits() throws {
        let resources = try ResourceLocator.locate()
        let catalog = try FeatureCatalog(resources: resources)
        // every module: `all` plus those kept out of it (`in_all: false`)
        let everything = (["all"] + catalog.modules.filter { !$0.inAll }.map(\.name)).joined(separator: ",")
        for features in [everything, "all", "seed", ""] {
            let plan = try catalog.plan(features: features)
            let fields = plan.features.reduce(0) { $0 + $1.fields.count + $1.derived.count }
            #expect(plan.features.count * 2 <= FeatureLimit.modulesPerPlan.maximum, "\(features): \(plan.features.count) modules")
            #expect(fields * 2 <= FeatureLimit.fieldsPerPlan.maximum, "\(features): \(fields) fields")
            #expect(plan.layout.size * 2 <= FeatureLimit.recordBytes.maximum, "\(features): \(plan.layout.size) bytes")
        }
        #expect(try catalog.plan(features: everything).features.count == catalog.modules.count)
        for module in catalog.modules {
            #expect((module.fields.count + module.derived.count) * 4 <= FeatureLimit.fieldsPerModule.maximum, "\(module.name)")
            for field in module.fields { #expect(field.count * 2 <= FeatureLimit.histogramBins.maximum, "\(module.name).\(field.name)") }
            let spec = try #require((FileManager.default.attributesOfItem(atPath: module.directory + "/feature.yaml")[.size] as? NSNumber)?.intValue)
            #expect(spec * 4 <= FeatureLimit.specFileBytes.maximum, "\(module.name)")
            for source in [module.update, module.helpers].compactMap({ $0 }) {
                #expect(source.text.utf8.count * 4 <= FeatureLimit.cFileBytes.maximum, "\(source.file)")
            }
        }
    }
}
