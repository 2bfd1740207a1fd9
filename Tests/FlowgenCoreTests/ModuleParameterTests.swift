import Foundation
import Testing
@testable import FlowgenCore

/// Module parameters: declared in feature.yaml, set in the selection (`splt:n=20`, a preset's
/// `requires:`), applied to counts written `$n`, emitted as C constants and in the plan.
@Suite struct ModuleParameterTests {
    func builtIns() throws -> [FeatureModule] {
        try FeatureLoader(searchPaths: [ResourceLocator.locate().features]).loadAll()
    }

    /// A module parsed from `yaml` in a folder named `name` (no file is read: no update body).
    func module(_ name: String, _ yaml: String) throws -> FeatureModule {
        try FeatureLoader.parse(yaml: "name: \(name)\n" + yaml, specPath: "/nowhere/\(name)/feature.yaml", trust: nil)
    }

    static let edges = """
    parameters:
      - { name: edges, type: list, default: [64, 256, 1024], min: 1, max: 65535, summary: bin edges }
      - { name: scale, default: 3, min: 0, max: 8 }
    fields:
      - { name: fvh_bins, type: u64, aggregation: histogram, bins: $edges+1, value: "0", export: false }
      - { name: fvh_sum, type: u64, aggregation: sum, value: "pkt->ip_bytes >> FG_PARAM_FVH_SCALE", export: false }

    """

    @Test func spltKeepsTenByDefaultAndTwentyWhenAsked() throws {
        let all = try builtIns()
        for (spec, n) in [("splt", 10), ("splt:n=20", 20), ("nfstream,splt:n=32", 32)] {
            let splt = try #require(try FeatureSelection(spec, available: all).modules.first { $0.name == "splt" })
            #expect(splt.parameterValues["n"] == .int(Int64(n)), "\(spec)")
            #expect(splt.sequences[0].length == n)
            for name in ["splt_t", "splt_size", "splt_rc"] {
                #expect(splt.fields.first { $0.name == name }?.count == n, "\(spec) \(name)")
                #expect(splt.fields.first { $0.name == name }?.aggregation == .histogram(bins: n))
            }
        }
    }

    @Test func theCAndThePlanCarryTheValue() throws {
        let catalog = try FeatureCatalog(resources: ResourceLocator.locate())
        let plan = try catalog.plan(features: "splt:n=20")
        let header = CodeGenerator(resources: catalog.resources).planHeader(plan)
        #expect(header.contains("#define FG_PARAM_SPLT_N 20\n"))
        // 16 bytes per packet and direction: time u64, size u32, order u32
        #expect(plan.slot("splt_t")?.field.byteSize == 160)
        let doc = PlanDocument(plan: plan).object
        let parameters = try #require(doc["parameters"] as? [String: [String: Any]])
        #expect(parameters["splt"]?["n"] as? Int64 == 20)
        // a different value is different C, hence a different compile cache key
        let ten = try CodeGenerator(resources: catalog.resources).generate(try catalog.plan(features: "splt"))
        let twenty = try CodeGenerator(resources: catalog.resources).generate(plan)
        #expect(ten.files[CodeGenerator.planHeader] != twenty.files[CodeGenerator.planHeader])
    }

    @Test func wrongSettingsNameTheModuleAndParameter() throws {
        let all = try builtIns()
        func message(_ spec: String) -> String {
            do { _ = try FeatureSelection(spec, available: all); return "no error" } catch { return "\(error)" }
        }
        #expect(message("splt:m=20") == "feature 'splt' has no parameter 'm'; did you mean 'n'? (its parameters: n; `flowgen features` shows them)")
        #expect(message("splt:n=twenty") == "feature 'splt': parameter n='twenty' must be a whole number")
        #expect(message("splt:n=65") == "feature 'splt': parameter n=65 is out of range: from 2 to 64")
        #expect(message("splt:n=1") == "feature 'splt': parameter n=1 is out of range: from 2 to 64")
        #expect(message("splt:n") == "feature 'splt': 'n' is not a parameter setting; write splt:NAME=VALUE (e.g. splt:n=20)")
        #expect(message("splt:n=20,splt:n=30") == "feature 'splt': parameter n is set twice, to 20 and to 30; keep one")
        #expect(message("tcp:n=1") == "feature 'tcp' has no parameter 'n'; (it has none; `flowgen features` shows them)")
        #expect(message("-ipv6:x=1") == "feature 'ipv6' is left out (-ipv6): it takes no parameters there")
        // the same value twice is one setting
        #expect(message("splt:n=20,splt:n=20") == "no error")
    }

    @Test func listParametersAndCountsThatDependOnThem() throws {
        let m = try module("fvh", Self.edges)
        #expect(m.parameters.map(\.name) == ["edges", "scale"])
        #expect(m.fields[0].count == 4 && m.fields[0].binsExpression == "$edges+1")
        let plan = try Planner().plan(FeatureSelection("fvh:edges=100/200", available: [m]))
        #expect(plan.slot("fvh_bins")?.field.count == 3)
        let header = CodeGenerator(resources: try ResourceLocator.locate()).planHeader(plan)
        #expect(header.contains("#define FG_PARAM_FVH_EDGES { 100, 200 }\n#define FG_PARAM_FVH_EDGES_COUNT 2\n#define FG_PARAM_FVH_SCALE 3\n"))
        #expect(throws: ParameterError("feature 'fvh': parameter edges='100;200' must be a list of whole numbers separated by / (e.g. 64/128/256)")) {
            try FeatureSelection("fvh:edges=100;200", available: [m]).modules.count
        }
        // a count the value would push out of bounds is refused naming the count and the value
        let many = (1...64).map(String.init).joined(separator: "/")
        #expect(throws: ParameterError("feature 'fvh': field 'fvh_bins' bins $edges+1 = 65 with edges=\(many); it must be from 2 to 64: choose another edges")) {
            try FeatureSelection("fvh:edges=\(many)", available: [m]).modules.count
        }
        #expect(FeatureListing(modules: [m]).text(withFields: true).contains(
            "    parameter edges = 64/256/1024 (list, each 1 to 65535): bin edges; set with --features fvh:edges=VALUE\n"))
        // without --fields one line per module, the parameters as a tag
        #expect(FeatureListing(modules: [m]).text(withFields: false) == "fvh   [parameters edges=64/256/1024 scale=3 (fvh:NAME=VALUE)]\n")
    }

    @Test func presetsSetParametersAndTheListWins() throws {
        let splt = try #require(try builtIns().first { $0.name == "splt" })
        let short = try module("fvshort", "requires: [splt:n=4]\n")
        let long = try module("fvlong", "requires: [splt:n=30]\n")
        #expect(short.requires == ["splt"] && short.requiredSettings == ["splt": ["n": "4"]])
        func n(_ spec: String) throws -> ModuleParameter.Value? {
            try FeatureSelection(spec, available: [splt, short, long]).modules.first { $0.name == "splt" }?.parameterValues["n"]
        }
        #expect(try n("fvshort") == .int(4))
        #expect(try n("fvshort,splt:n=12") == .int(12))
        #expect(throws: ParameterError("feature 'splt': parameter n is set to 30 by 'fvlong' and to 4 by 'fvshort'; set it yourself (--features splt:n=VALUE)")) {
            try n("fvshort,fvlong")
        }
        #expect(try n("fvshort,fvlong,splt:n=8") == .int(8))
        #expect(FeatureListing(modules: [short]).text(withFields: false).contains("[preset: selects splt:n=4]"))
    }

    @Test func declarationsAreCheckedAtTheirLine() {
        func message(_ yaml: String) -> String {
            do { _ = try module("fvbad", yaml); return "no error" } catch { return "\(error)" }
        }
        let file = "/nowhere/fvbad/feature.yaml"
        #expect(message("parameters:\n  - { name: n, type: float, default: 1, min: 0, max: 2 }\n")
                == "\(file):3: error: parameter 'n': unknown type 'float'; use int or list")
        #expect(message("parameters:\n  - { name: n, default: 1, max: 2 }\n")
                == "\(file):3: error: parameter 'n': missing `min:` (the smallest value allowed)")
        #expect(message("parameters:\n  - { name: n, default: 9, min: 0, max: 2 }\n")
                == "\(file):3: error: default: parameter n=9 is out of range: from 0 to 2")
        #expect(message("fields:\n  - { name: h, type: u64, aggregation: histogram, bins: $m, value: \"0\" }\n")
                == "\(file):3: error: field 'h': `bins` '$m' names no parameter; declare `m` under `parameters:`")
        #expect(message("parameters:\n  - { name: n, default: 4, min: 2, max: 8 }\nfields:\n  - { name: h, type: u64, aggregation: histogram, bins: $n, value: \"0\", json: { forward: [A, B, C, D] } }\n")
                .contains("bins set by a parameter ($n) cannot have json: names"))
    }
}
