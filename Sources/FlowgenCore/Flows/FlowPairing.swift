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

    /// Entries whose table slots, keys and first-packet times are read together, before any is
    /// used. A million-entry snapshot fits no cache, so nearly every slot and every other entry's
    /// key read misses; one entry at a time each miss waits for the one before (the loop body is
    /// too long for the processor to run ahead), a group at a time they overlap. On the
    /// benchmark's million directions pairing took 0.17-0.30 s before, 0.13-0.21 s after.
    static let lookahead = 16

    /// What the first loop over a group reads for one entry, for the loops after it.
    struct Lookahead {
        /// The home slot of the entry's key (insertion) or of its reverse (lookup).
        var slot = 0
        /// The entry in that slot when it was read, or -1.
        var candidate: Int32 = -1
        /// Lookup: the entry's reverse key.
        var reverse = Words(0, 0, 0, 0, 0)
        /// Lookup: the candidate's key.
        var candidateKey = Words(0, 0, 0, 0, 0)
        /// Lookup: the candidate's first packet (0 without `first_seen`).
        var candidateFirst: UInt64 = 0
    }

    /// Every entry of `snapshot` in exactly one pair, in the order of each pair's first entry.
    /// Entries whose key or value is shorter than expected are left out.
    ///
    /// Greedy and exact: each entry not yet paired takes the first unpaired entry holding its
    /// reverse key (so a snapshot that lists a key twice still puts every entry in one pair).
    /// Slots, keys and records are read `lookahead` entries at a time; the decisions are made one
    /// entry after the other on what was read, as if nothing had been read ahead.
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
                @inline(__always) func key(_ i: Int) -> Words { Words(keyBase + i * keySize) }
                @inline(__always) func first(_ i: Int) -> UInt64 { firstSeen?.load(valueBase + i * valueSize) ?? 0 }
                slots.withUnsafeMutableBufferPointer { slots in
                    used.withUnsafeMutableBufferPointer { used in
                        withUnsafeTemporaryAllocation(of: Lookahead.self, capacity: Self.lookahead) { ahead in
                            _ = ahead.initialize(repeating: Lookahead())
                            // every entry in its key's home slot, or the next free one after it
                            var start = 0
                            while start < count {
                                let end = Swift.min(start + Self.lookahead, count)
                                for i in start..<end {
                                    let s = Int(truncatingIfNeeded: Self.hash(key(i))) & mask
                                    ahead[i - start].slot = s
                                    ahead[i - start].candidate = slots[s]
                                }
                                for i in start..<end {
                                    var s = ahead[i - start].slot
                                    // a slot taken when read is still taken; a free one may have been taken by this group since
                                    if ahead[i - start].candidate >= 0 || slots[s] >= 0 {
                                        repeat { s = (s + 1) & mask } while slots[s] >= 0
                                    }
                                    slots[s] = Int32(i)
                                }
                                start = end
                            }
                            // then each entry not yet paired looks for its reverse, the initiator first
                            start = 0
                            while start < count {
                                let end = Swift.min(start + Self.lookahead, count)
                                // entries already paired stay so: the reads are for those that are not
                                for i in start..<end where !used[i] {
                                    let reverse = key(i).reversed(icmpKeyed: icmpKeyed)
                                    let s = Int(truncatingIfNeeded: Self.hash(reverse)) & mask
                                    ahead[i - start].reverse = reverse
                                    ahead[i - start].slot = s
                                    ahead[i - start].candidate = slots[s]
                                }
                                for i in start..<end where !used[i] {
                                    let c = Int(ahead[i - start].candidate)
                                    guard c >= 0 else { continue }
                                    ahead[i - start].candidateKey = key(c)
                                    ahead[i - start].candidateFirst = first(c)
                                }
                                for i in start..<end where !used[i] {
                                    used[i] = true
                                    let own = key(i), look = ahead[i - start]
                                    var partner = -1, partnerFirst: UInt64 = 0
                                    if look.reverse != own && look.candidate >= 0 {
                                        let c = Int(look.candidate)
                                        if !used[c] && look.candidateKey == look.reverse {
                                            (partner, partnerFirst) = (c, look.candidateFirst)
                                        } else {
                                            var s = (look.slot + 1) & mask
                                            while slots[s] >= 0 {
                                                let j = Int(slots[s])
                                                if !used[j] && key(j) == look.reverse {
                                                    (partner, partnerFirst) = (j, first(j))
                                                    break
                                                }
                                                s = (s + 1) & mask
                                            }
                                        }
                                    }
                                    if partner < 0 {
                                        pairs.append(Pair(forward: Int32(i), reverse: -1))
                                        continue
                                    }
                                    used[partner] = true
                                    let iFirst = orientedFirst(own, first(i), key(partner), partnerFirst)
                                    pairs.append(iFirst ? Pair(forward: Int32(i), reverse: Int32(partner))
                                                        : Pair(forward: Int32(partner), reverse: Int32(i)))
                                }
                                start = end
                            }
                        }
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
    /// `aFirst`/`bFirst` are their first packets' times (both 0 when the plan has no `first_seen`).
    func orientedFirst(_ a: Words, _ aFirst: UInt64, _ b: Words, _ bFirst: UInt64) -> Bool {
        if aFirst != bFirst { return aFirst < bFirst }
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
        var isICMPReply: Bool { isICMP && FlowKey.isICMPReplyType(UInt8(truncatingIfNeeded: dport >> 8), v6: proto == 58) }

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
