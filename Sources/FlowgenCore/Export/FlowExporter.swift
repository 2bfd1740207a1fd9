/// Receives the biflows a collector ends (JSON/CSV/text writers, IPFIX).
public protocol FlowExporter: AnyObject {
    /// Exports a batch of ended flows.
    func export(_ flows: [Biflow]) throws
    /// Exports a batch of ended flows decoded into flat storage, what the collector hands over.
    /// The default builds `Biflow`s (`export(batch.biflows)`); exporters that format straight from
    /// the batch override it and allocate nothing per flow.
    func export(_ batch: BiflowBatch) throws
    /// Flushes and releases the destination.
    func close() throws
}

extension FlowExporter {
    /// Exports the batch as `Biflow`s, for exporters that keep, queue or reorder flows.
    public func export(_ batch: BiflowBatch) throws {
        try export(batch.biflows)
    }
}

/// Sends every batch to several exporters (e.g. JSON lines and IPFIX at once).
public final class ExporterGroup: FlowExporter {
    let members: [FlowExporter]

    /// Creates a group.
    public init(_ members: [FlowExporter]) { self.members = members }

    /// Exports to each member in turn.
    public func export(_ flows: [Biflow]) throws { for m in members { try m.export(flows) } }

    /// Exports the batch to each member in turn.
    public func export(_ batch: BiflowBatch) throws { for m in members { try m.export(batch) } }

    /// Closes every member.
    public func close() throws { for m in members { try m.close() } }
}
