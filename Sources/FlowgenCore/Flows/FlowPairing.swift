/// Pairs the two directions of each flow (RFC 5103) in a flat snapshot, by index: the initiator
/// is the direction seen first.
///
/// Works on the raw 40-byte `struct fg_flow_key`s with an open-addressing index of entry numbers
/// (4 bytes a slot), so pairing a million directions allocates three flat arrays and no object
/// per entry.
public struct FlowPairing: Sendable {
    /// A paired flow as entry indices of the snapshot; `reverse` is -1 for a one-way flow.
    public struct Pair: Sendable, Equatable {
        /// Initiator → responder.
        public var forward: Int32
        /// Responder → initiator, or -1.
        public var reverse: Int32
    }

    let icmpKeyed: Bool
    let firstSeen: RecordField?

    /// Creates a pairing for a plan's records.
    public init(decoder: RecordDecoder) {
        icmpKeyed = decoder.plan.defines.contains("FG_WITH_ICMP_KEY")
        firstSeen = RecordField(decoder, "first_seen")
    }

    /// Every entry of `snapshot` in exactly one pair, in the order of each pair's first entry.
    /// Entries whose key or value is shorter than expected are left out.
    public func pairs(_ snapshot: FlowSnapshot, recordSize: Int) -> [Pair] {
        let count = snapshot.count
        guard count > 0, snapshot.keySize >= FlowKey.byteSize, snapshot.valueSize >= recordSize else { return [] }
        let keySize = snapshot.keySize, valueSize = snapshot.valueSize
        var capacity = 16
        while capacity < count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        var slots = [Int32](repeating: -1, count: capacity)
        var used = [Bool](repeating: false, count: count)
        var pairs: [Pair] = []
        pairs.reserveCapacity(count / 2 + 1)
        snapshot.keys.withUnsafeBytes { keys in
            snapshot.values.withUnsafeBytes { values in
                let keyBase = keys.baseAddress!, valueBase = values.baseAddress!
                slots.withUnsafeMutableBufferPointer { slots in
                    for i in 0..<count {
                        var s = Int(truncatingIfNeeded: Self.hash(Words(keyBase + i * keySize))) & mask
                        while slots[s] >= 0 { s = (s + 1) & mask }
                        slots[s] = Int32(i)
                    }
                    for i in 0..<count where !used[i] {
                        used[i] = true
                        let own = Words(keyBase + i * keySize)
                        let reverse = own.reversed(icmpKeyed: icmpKeyed)
                        var partner = -1
                        if reverse != own {
                            var s = Int(truncatingIfNeeded: Self.hash(reverse)) & mask
                            while slots[s] >= 0 {
                                let j = Int(slots[s])
                                if !used[j] && Words(keyBase + j * keySize) == reverse {
                                    partner = j
                                    break
                                }
                                s = (s + 1) & mask
                            }
                        }
                        if partner < 0 {
                            pairs.append(Pair(forward: Int32(i), reverse: -1))
                            continue
                        }
                        used[partner] = true
                        let iFirst = orientedFirst(own, valueBase + i * valueSize, Words(keyBase + partner * keySize),
                                                   valueBase + partner * valueSize)
                        pairs.append(iFirst ? Pair(forward: Int32(i), reverse: Int32(partner))
                                            : Pair(forward: Int32(partner), reverse: Int32(i)))
                    }
                }
            }
        }
        return pairs
    }

    /// Whether direction a is the initiator: seen first; on a tie an ICMP request wins, then the
    /// higher source port (clients usually use the higher, ephemeral port), then the lower source
    /// address, so the choice never depends on the order the table lists the two directions in
    /// (a capture whose packets share one timestamp, both directions on port 500, replayed twice,
    /// named different initiators).
    func orientedFirst(_ a: Words, _ aValue: UnsafeRawPointer, _ b: Words, _ bValue: UnsafeRawPointer) -> Bool {
        if let f = firstSeen {
            let ta = f.load(aValue), tb = f.load(bValue)
            if ta != tb { return ta < tb }
        }
        if a.isICMP && a.isICMPReply != b.isICMPReply { return !a.isICMPReply }
        if a.sport != b.sport { return a.sport > b.sport }
        // b is a reversed: comparing (src, dst) in network byte order puts the lower source address first
        return (a.w0.byteSwapped, a.w1.byteSwapped, a.w2.byteSwapped, a.w3.byteSwapped)
            <= (b.w0.byteSwapped, b.w1.byteSwapped, b.w2.byteSwapped, b.w3.byteSwapped)
    }

    /// A 40-byte key as five words: src (2), dst (2), then ports, protocol, version and padding.
    struct Words: Equatable {
        var w0, w1, w2, w3, w4: UInt64

        init(_ p: UnsafeRawPointer) {
            w0 = p.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            w1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            w2 = p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            w3 = p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            w4 = p.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        }

        init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64, _ w4: UInt64) {
            (self.w0, self.w1, self.w2, self.w3, self.w4) = (w0, w1, w2, w3, w4)
        }

        // struct fg_flow_key is little-endian on the hosts BPF runs on: sport is bytes 32-33, dport 34-35, proto 36
        var sport: UInt16 { UInt16(truncatingIfNeeded: w4) }
        var dport: UInt16 { UInt16(truncatingIfNeeded: w4 >> 16) }
        var proto: UInt8 { UInt8(truncatingIfNeeded: w4 >> 32) }
        var isICMP: Bool { proto == 1 || proto == 58 }
        var isICMPReply: Bool {
            guard isICMP else { return false }
            let type = UInt8(truncatingIfNeeded: dport >> 8)
            return proto == 58 ? (type == 129 || type == 134 || type == 136) : (type == 0 || type == 14 || type == 16 || type == 18)
        }

        /// The key of the opposite direction, as `FlowKey.reversed(icmpKeyed:)` builds it.
        func reversed(icmpKeyed: Bool) -> Words {
            let rest = w4 & 0xFFFF_FFFF_0000_0000
            var ports = UInt64(sport) << 16 | UInt64(dport)
            if icmpKeyed && isICMP {
                let type = UInt8(truncatingIfNeeded: dport >> 8), code = UInt16(dport & 0xFF)
                let peer = UInt16(FlowKey.icmpPeerType(type, v6: proto == 58) ?? type) << 8 | code
                ports = UInt64(peer) << 16 | UInt64(sport)
            }
            return Words(w2, w3, w0, w1, rest | ports)
        }
    }

    @inline(__always)
    static func hash(_ k: Words) -> UInt64 {
        @inline(__always) func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let m = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            return m ^ (m >> 29)
        }
        return mix(mix(mix(mix(mix(0x9E37_79B9_7F4A_7C15, k.w0), k.w1), k.w2), k.w3), k.w4)
    }
}
