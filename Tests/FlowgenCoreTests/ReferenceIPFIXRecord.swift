@testable import FlowgenCore

/// The IPFIX Data Record encoder as it was before templates were compiled to plain ops (a walk over
/// `IPFIXTemplateField`s and their `IPFIXValueSource`s per flow), kept as the oracle the compiled
/// encoder must match byte for byte. The octet-level helpers (`store`, `storeAddress`, `time`)
/// did not change and are shared.
enum ReferenceIPFIXRecord {
    static func bytes(_ template: IPFIXTemplate, _ flow: Biflow, epochOffsetNs: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: template.recordLength) { buffer, count in
            write(template, flow, epochOffsetNs: epochOffsetNs, to: buffer.baseAddress!)
            count = template.recordLength
        }
    }

    static func write(_ template: IPFIXTemplate, _ flow: Biflow, epochOffsetNs: Int64, to p: UnsafeMutablePointer<UInt8>) {
        let key = flow.forward.key
        let fv = flow.forward.values
        let rv = flow.reverse?.values
        var o = 0
        for f in template.fields {
            let length = Int(f.specifier.length)
            let q = p + o
            o += length
            switch f.source {
            case .sourceAddress: IPFIXTemplate.storeAddress(key.src, length: length, q)
            case .destinationAddress: IPFIXTemplate.storeAddress(key.dst, length: length, q)
            case .sourcePort: IPFIXTemplate.store(UInt64(key.sport), length, q)
            case .destinationPort: IPFIXTemplate.store(UInt64(key.dport), length, q)
            case .protocolIdentifier: IPFIXTemplate.store(UInt64(key.proto), length, q)
            case .icmpTypeCode: IPFIXTemplate.store(key.isICMP ? UInt64(key.dport) : 0, length, q)
            case .flowEndReason: IPFIXTemplate.store(UInt64(flow.endReason.ipfixCode), length, q)
            case .flowID: IPFIXTemplate.store(flow.id, length, q)
            case .biflowDirection: IPFIXTemplate.store(1, length, q)
            case let .field(column, direction, aggregation, unit, sample):
                storeValue(ReferenceSample.value(fv, rv, column: column, direction: direction, aggregation: aggregation, sample: sample), unit: unit, type: f.type, length: length,
                           epochOffsetNs: epochOffsetNs, q)
            case let .derived(expression, direction, aggregation, unit):
                let fwd = direction == .reverse ? nil : expression.evaluate(own: fv, peer: rv)
                let rev = direction == .forward ? nil : rv.flatMap { expression.evaluate(own: $0, peer: fv) }
                storeValue(pick(direction, aggregation, fwd, rev), unit: unit, type: f.type, length: length,
                           epochOffsetNs: epochOffsetNs, q)
            }
        }
    }

    static func pick(_ direction: OutputSchema.Direction, _ aggregation: Aggregation, _ fwd: UInt64?, _ rev: UInt64?) -> UInt64? {
        switch direction {
        case .forward: return fwd
        case .reverse: return rev
        case .combined:
            switch (fwd, rev) {
            case let (f?, r?): return aggregation.combine(f, r)
            case let (f?, nil): return f
            case let (nil, r?): return r
            case (nil, nil): return nil
            }
        }
    }

    static func storeValue(_ value: UInt64?, unit: FieldUnit, type: IPFIXDataType, length: Int, epochOffsetNs: Int64,
                           _ p: UnsafeMutablePointer<UInt8>) {
        guard let value else {
            p.update(repeating: 0, count: length)
            return
        }
        IPFIXTemplate.store(unit == .timestamp ? IPFIXTemplate.time(value, epochOffsetNs: epochOffsetNs, type: type) : value, length, p)
    }
}
