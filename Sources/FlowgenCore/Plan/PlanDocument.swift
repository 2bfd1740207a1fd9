import Foundation

/// The plan as JSON (`flowgen build --emit plan`, and the manifest written beside `-o FILE.o`),
/// so other loaders can decode the records without flowgen.
public struct PlanDocument: Sendable {
    /// The plan to describe.
    public let plan: Plan

    /// Each module's record bytes and verified instructions (`build --emit plan`; the manifest has none).
    public let cost: ModuleCostReport?

    /// Creates a document.
    public init(plan: Plan, cost: ModuleCostReport? = nil) {
        self.plan = plan
        self.cost = cost
    }

    /// A JSON-serialisable dictionary.
    public var object: [String: Any] {
        let stages: [[String: Any]] = plan.stages.map { stage in
            var s: [String: Any] = ["program": stage.program, "features": stage.features]
            s["verified_insns"] = stage.verifiedInstructions.map { $0 as Any } ?? NSNull()
            return s
        }
        let fields: [[String: Any]] = plan.layout.slots.map { slot in
            let f = slot.field
            var d: [String: Any] = [
                "name": f.name, "feature": slot.feature, "type": f.type.rawValue, "count": f.count,
                "offset": slot.offset, "size": f.byteSize, "aggregation": f.aggregation.name, "unit": f.unit.rawValue,
                "json": ["forward": f.json.forward, "reverse": f.json.reverse, "combined": f.json.combined],
            ]
            if let ie = f.ipfix { d["ipfix"] = ["id": Int(ie.id), "enterprise": Int(ie.enterprise), "name": ie.name] }
            return d
        }
        // outputs the collector computes from stored fields; other loaders can evaluate them the same way
        let derived: [[String: Any]] = plan.features.flatMap { m in
            m.derived.map { d -> [String: Any] in
                ["name": d.name, "feature": m.name, "derive": d.source, "aggregation": d.aggregation.name, "unit": d.unit.rawValue,
                 "json": ["forward": d.json.forward, "reverse": d.json.reverse, "combined": d.json.combined]]
            }
        }
        // first packets of both directions merged at export (SequenceField.merge): which stored arrays
        let sequences: [[String: Any]] = plan.features.flatMap { m in
            m.sequences.map { q -> [String: Any] in
                ["name": q.name, "feature": m.name, "length": q.length, "count": q.count, "time": q.time, "size": q.size,
                 "order": q.order, "json": q.json.forward]
            }
        }
        let keyFields: [[String: Any]] = [
            ["name": "src", "offset": 0, "size": 16, "note": "IPv4 as ::ffff:a.b.c.d"],
            ["name": "dst", "offset": 16, "size": 16],
            ["name": "sport", "offset": 32, "size": 2, "note": "host byte order; ICMP identifier"],
            ["name": "dport", "offset": 34, "size": 2, "note": "host byte order; ICMP type << 8 | code"],
            ["name": "proto", "offset": 36, "size": 1],
            ["name": "ip_version", "offset": 37, "size": 1],
            ["name": "pad", "offset": 38, "size": 2],
        ]
        var document: [String: Any] = [
            "flowgen_version": FlowgenVersion.string,
            "entry": plan.entryProgram,
            "features": plan.features.map(\.name),
            "stages": stages,
            "max_flows": plan.maxFlows,
            "defines": plan.defines,
            "maps": ["flows": "fg_flows", "counters": "fg_counters"],
            "key": ["struct": "fg_flow_key", "size": FlowKey.byteSize, "fields": keyFields],
            "record": ["struct": "fg_record", "size": plan.layout.size, "fields": fields],
            "derived": derived,
            "sequences": sequences,
            // every module parameter's value in this build (defaults included), by module
            "parameters": Dictionary(uniqueKeysWithValues: plan.features.filter { !$0.parameters.isEmpty }.map { m in
                (m.name, Dictionary(uniqueKeysWithValues: m.parameters.map { ($0.name, (m.parameterValues[$0.name] ?? $0.defaultValue).jsonObject) }))
            }),
            "counters": KernelCounter.allCases.map(\.jsonName),
        ]
        if let cost { document["cost"] = cost.object }
        return document
    }

    /// Pretty-printed JSON text with sorted keys (stable across runs).
    public func json() -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
