/// Derives the IPFIX templates from a plan, so the export follows the selected modules the way
/// `OutputSchema` does for JSON/CSV.
///
/// Each template starts with the flow key and metadata (addresses, ports, protocol, ICMP type/code
/// when the plan keys ICMP by it, flowEndReason, biflowDirection, flowId), then every module field
/// that has output names, in plan order (stored fields, then derived ones, per module):
/// - per-direction names: the field's element carries the initiator → responder value and, in
///   biflow templates, its RFC 5103 reverse the other direction's: IANA elements under PEN 29305;
///   enterprise elements as the enterprise's own reverse where flowgen knows one (ntop's `_IN`/`_OUT`
///   pairs), else with id bit 0x4000. The reverse comes first, because collectors that read 29305/x
///   as x (nfdump 1.7 does, for all but the octet and packet counters) keep the value they read last;
/// - only a combined name (the base timestamps): the combined value, under the field's element;
/// - a combined name that both directions do not already carry (one direction name missing): the
///   combined value too, under a flowgen element.
/// A field without an element gets one under flowgen's enterprise number
/// (`FlowgenIPFIX.privateEnterpriseNumber`), ids handed out from 1 in plan order, histogram bins
/// consecutively: the same feature set always gets the same ids.
public struct IPFIXTemplateBuilder: Sendable {
    /// The plan.
    public let plan: Plan

    /// Creates a builder.
    public init(plan: Plan) { self.plan = plan }

    /// The four templates.
    public func build() throws -> IPFIXSchema {
        let fields = try moduleFields()
        var templates: [IPFIXTemplate] = []
        for (id, version, biflow) in [(IPFIXSchema.ipv4BiflowTemplateID, UInt8(4), true), (IPFIXSchema.ipv6BiflowTemplateID, 6, true),
                                      (IPFIXSchema.ipv4UniflowTemplateID, 4, false), (IPFIXSchema.ipv6UniflowTemplateID, 6, false)] {
            var list = keyFields(ipVersion: version)
            for group in fields {
                if biflow { list += group.reverse }
                list += group.forward + group.combined
            }
            let template = IPFIXTemplate(id: id, fields: list, ipVersion: version, isBiflow: biflow)
            let limit = FlowgenIPFIX.maxMessageLength - FlowgenIPFIX.messageHeaderLength - FlowgenIPFIX.setHeaderLength
            let worst = max(template.recordLength, template.templateRecordLength)
            if worst > limit { throw IPFIXError.templateTooLarge(worst) }
            templates.append(template)
        }
        return IPFIXSchema(templates: templates, features: plan.features.map(\.name))
    }

    /// Key and metadata fields.
    func keyFields(ipVersion: UInt8) -> [IPFIXTemplateField] {
        typealias C = IPFIXElementCatalog
        let v6 = ipVersion == 6
        func iana(_ id: UInt16, _ source: IPFIXValueSource, _ json: String?) -> IPFIXTemplateField {
            let entry = C.entry(id)!
            return IPFIXTemplateField(specifier: IPFIXFieldSpecifier(id: id, length: UInt16(entry.type.naturalLength)),
                                      name: entry.name, type: entry.type, source: source, jsonName: json)
        }
        var out = [
            iana(v6 ? C.sourceIPv6Address : C.sourceIPv4Address, .sourceAddress, v6 ? "IPV6_SRC_ADDR" : "IPV4_SRC_ADDR"),
            iana(v6 ? C.destinationIPv6Address : C.destinationIPv4Address, .destinationAddress, v6 ? "IPV6_DST_ADDR" : "IPV4_DST_ADDR"),
            iana(C.sourceTransportPort, .sourcePort, "L4_SRC_PORT"),
            iana(C.destinationTransportPort, .destinationPort, "L4_DST_PORT"),
            iana(C.protocolIdentifier, .protocolIdentifier, "PROTOCOL"),
        ]
        if plan.defines.contains("FG_WITH_ICMP_KEY") {
            out.append(iana(v6 ? C.icmpTypeCodeIPv6 : C.icmpTypeCodeIPv4, .icmpTypeCode, "ICMP_TYPE"))
        }
        out.append(iana(C.flowEndReason, .flowEndReason, "FLOW_END_REASON"))
        out.append(iana(C.biflowDirection, .biflowDirection, nil))
        out.append(iana(C.flowId, .flowID, "FLOW_ID"))
        return out
    }

    /// The elements of one plan field per role.
    struct FieldGroup {
        var reverse: [IPFIXTemplateField] = []
        var forward: [IPFIXTemplateField] = []
        var combined: [IPFIXTemplateField] = []
    }

    /// A stored or derived field as the builder sees it.
    struct Exported {
        var name: String
        var count: Int
        /// Octets of the value in the record (derived values are 64-bit).
        var size: Int
        var unit: FieldUnit
        var ipfix: IPFIXElement?
        var json: DirectionalNames
        var source: (_ element: Int, _ direction: OutputSchema.Direction) -> IPFIXValueSource
    }

    /// The plan's exported fields in output order: per module, stored fields then derived ones.
    func exportedFields() -> [Exported] {
        let decoder = RecordDecoder(plan: plan)
        let sampling = FieldSampling(modules: plan.features)
        var out: [Exported] = []
        for module in plan.features {
            for field in module.fields {
                guard let column = decoder.firstColumn[field.name] else { continue }
                let sample = FieldSample.of(field, decoder: decoder, sampling: sampling)
                out.append(Exported(name: field.name, count: field.count, size: field.type.size, unit: field.unit,
                                    ipfix: field.ipfix, json: field.json) { element, direction in
                    .field(column: column + element, direction: direction, aggregation: field.aggregation, unit: field.unit, sample: sample)
                })
            }
            for field in module.derived {
                guard let expression = field.expression.resolved({ decoder.firstColumn[$0] }) else { continue }
                out.append(Exported(name: field.name, count: 1, size: 8, unit: field.unit, ipfix: field.ipfix, json: field.json) { _, direction in
                    .derived(expression: expression, direction: direction, aggregation: field.aggregation, unit: field.unit)
                })
            }
        }
        return out
    }

    /// Every exported module field's elements, with flowgen's private ids handed out in plan order.
    func moduleFields() throws -> [FieldGroup] {
        var nextPrivate: UInt16 = 1
        func allocate(_ count: Int) throws -> UInt16 {
            let first = nextPrivate
            guard Int(first) + count - 1 <= Int(FlowgenIPFIX.maxPrivateElementID) else { throw IPFIXError.tooManyPrivateElements }
            nextPrivate += UInt16(count)
            return first
        }
        var groups: [FieldGroup] = []
        for field in exportedFields() {
            let names = field.json
            let directional = !names.forward.isEmpty || !names.reverse.isEmpty
            let combinedToo = !names.combined.isEmpty && (names.forward.isEmpty || names.reverse.isEmpty)
            guard directional || combinedToo else { continue }
            // a declared IANA element names one value: histograms of several bins get flowgen ids
            let declared = field.ipfix.flatMap { ie in (ie.enterprise == 0 && field.count > 1) ? nil : ie }
            var group = FieldGroup()
            if directional {
                let base = try declared ?? IPFIXElement(id: allocate(field.count), enterprise: FlowgenIPFIX.privateEnterpriseNumber)
                if !names.reverse.isEmpty {
                    group.reverse = try elements(field, base, direction: .reverse, names: names.reverse)
                }
                if !names.forward.isEmpty {
                    group.forward = try elements(field, base, direction: .forward, names: names.forward)
                }
            }
            if combinedToo {
                let base = try (!directional ? declared : nil)
                    ?? IPFIXElement(id: allocate(field.count), enterprise: FlowgenIPFIX.privateEnterpriseNumber)
                group.combined = try elements(field, base, direction: .combined, names: names.combined)
            }
            groups.append(group)
        }
        return groups
    }

    /// The template fields of one field in one direction: one per element (histogram bin).
    /// Reverses: IANA elements under PEN 29305; enterprise elements the enterprise's own reverse
    /// element if flowgen knows one (ntop's "_OUT" elements), else the id with bit 0x4000 (RFC 5103 §6.2).
    func elements(_ field: Exported, _ base: IPFIXElement, direction: OutputSchema.Direction,
                  names: [String]) throws -> [IPFIXTemplateField] {
        let catalog = IPFIXElementCatalog.entry(base.id, enterprise: base.enterprise)
        let type: IPFIXDataType
        let length: Int
        if field.unit == .timestamp {
            // time converts to the element's dateTime type; flowgen's own elements carry epoch µs like JSON
            type = catalog.map(\.type).flatMap { $0.isDateTime ? $0 : nil } ?? .unsigned64
            length = type.naturalLength
        } else {
            // reduced-size encoding (RFC 7011 §6.2): never longer than the element's natural length
            let natural = catalog.map(\.type.naturalLength) ?? field.size
            length = min(natural, field.size)
            type = .unsigned(size: length)
        }
        var out: [IPFIXTemplateField] = []
        for element in 0..<field.count {
            let wide = Int(base.id) + element
            guard wide <= 0x7FFF else { throw IPFIXError.elementIDOutOfRange(field: field.name, id: base.id) }
            var id = UInt16(wide)
            var enterprise = base.enterprise
            var name: String
            if base.enterprise == FlowgenIPFIX.privateEnterpriseNumber && field.ipfix?.enterprise != base.enterprise {
                name = Self.privateName(field.name)
            } else {
                name = catalog?.name ?? (base.name.isEmpty ? "element\(base.id)" : base.name)
            }
            if field.count > 1 { name += "\(element)" }
            if direction == .reverse {
                if enterprise == 0 {
                    enterprise = FlowgenIPFIX.reverseEnterpriseNumber
                    name = "reverse" + name.prefix(1).uppercased() + name.dropFirst()
                } else if let reverse = catalog?.reverseID, field.count == 1 {
                    id = reverse
                    name = catalog?.reverseName ?? "element\(reverse)"
                } else {
                    guard id <= FlowgenIPFIX.maxPrivateElementID else { throw IPFIXError.elementIDOutOfRange(field: field.name, id: id) }
                    id |= FlowgenIPFIX.enterpriseReverseBit
                    name = "reverse" + name.prefix(1).uppercased() + name.dropFirst()
                }
            }
            out.append(IPFIXTemplateField(
                specifier: IPFIXFieldSpecifier(id: id, length: UInt16(length), enterprise: enterprise),
                name: name, type: type, source: field.source(element, direction),
                planField: field.name, element: element, jsonName: element < names.count ? names[element] : nil))
        }
        return out
    }

    /// lowerCamelCase of a C field name: `min_ttl` → `minTtl`.
    static func privateName(_ field: String) -> String {
        let parts = field.split(separator: "_")
        guard let first = parts.first else { return field }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
