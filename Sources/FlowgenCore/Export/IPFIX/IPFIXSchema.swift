/// The templates of a plan and which one each flow uses: IPv4 or IPv6, with reverse elements when
/// the responder's direction was seen (a biflow) or without them (a one-way flow).
public struct IPFIXSchema: Sendable, Equatable {
    /// Template id of IPv4 biflows.
    public static let ipv4BiflowTemplateID: UInt16 = 256
    /// Template id of IPv6 biflows.
    public static let ipv6BiflowTemplateID: UInt16 = 257
    /// Template id of IPv4 one-way flows.
    public static let ipv4UniflowTemplateID: UInt16 = 258
    /// Template id of IPv6 one-way flows.
    public static let ipv6UniflowTemplateID: UInt16 = 259

    /// Every template, in id order.
    public let templates: [IPFIXTemplate]
    /// The plan's modules, for listings.
    public let features: [String]

    /// Creates a schema; `templates` must hold the four ids above.
    public init(templates: [IPFIXTemplate], features: [String]) {
        self.templates = templates.sorted { $0.id < $1.id }
        self.features = features
        precondition(self.templates.map(\.id) == [256, 257, 258, 259], "a schema has the four flowgen templates")
    }

    /// The template of a flow.
    public func template(for flow: Biflow) -> IPFIXTemplate { templates[templateIndex(for: flow)] }

    /// The position of a flow's template in `templates`.
    @inline(__always)
    func templateIndex(for flow: Biflow) -> Int {
        Self.templateIndex(ipVersion: flow.forward.key.ipVersion, oneWay: flow.reverse == nil)
    }

    /// The position of the template of a flow of IP version `ipVersion`, with or without its reverse direction.
    @inline(__always)
    static func templateIndex(ipVersion: UInt8, oneWay: Bool) -> Int {
        (ipVersion == 6 ? 1 : 0) + (oneWay ? 2 : 0)
    }

    /// The Data Record of a flow.
    public func record(for flow: Biflow, epochOffsetNs: Int64) -> IPFIXDataRecord {
        // through the subscript the template is borrowed where it lies, not copied (and its arrays retained) per flow
        templates[templateIndex(for: flow)].record(for: flow, epochOffsetNs: epochOffsetNs)
    }

    /// The Data Records of every flow of `batch`, read from its flat storage.
    public func records(for batch: BiflowBatch, epochOffsetNs: Int64) -> [IPFIXDataRecord] {
        precondition(templates.allSatisfy { batch.valueCount >= $0.valueCount }, "a batch has fewer values per record than the templates' plan")
        var records: [IPFIXDataRecord] = []
        records.reserveCapacity(batch.count)
        batch.forEachFields(in: 0..<batch.count) { flow in
            let index = Self.templateIndex(ipVersion: flow.key.ipVersion, oneWay: flow.reverse == nil)
            records.append(templates[index].record(for: flow, epochOffsetNs: epochOffsetNs))
        }
        return records
    }

    /// A template by id.
    public func template(id: UInt16) -> IPFIXTemplate? { templates.first { $0.id == id } }
}
