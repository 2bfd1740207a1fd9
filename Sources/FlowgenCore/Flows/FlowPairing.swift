/// Pairs the two directions of each flow (RFC 5103): the initiator is the direction seen first.
///
/// Works on the raw 40-byte (48 with the `tunnel` feature) `struct fg_flow_key`s as a table walk hands them out, a run at a time
/// (`match`): each entry takes its reverse if that one already waits in `UnpairedDirections`, else
/// waits itself, so pairing never needs the whole table at once.
public struct FlowPairing: Sendable {
    let icmpKeyed: Bool
    let firstSeen: RecordField?
    let lastSeen: RecordField?
    let tcpFlags: RecordField?

    /// Creates a pairing for a plan's records.
    public init(decoder: RecordDecoder) {
        icmpKeyed = decoder.plan.defines.contains("FG_WITH_ICMP_KEY")
        firstSeen = RecordField(decoder, "first_seen")
        lastSeen = RecordField(decoder, "last_seen")
        tcpFlags = RecordField(decoder, "tcp_flags")
    }

    /// Whether the plan has both packet times (without them no flow ends before the flush).
    var hasTimes: Bool { firstSeen != nil && lastSeen != nil }

    /// What a pairing or end decision reads of a record (0 for a field the plan lacks).
    @inline(__always)
    func times(_ record: UnsafeRawPointer) -> UnpairedDirections.Times {
        .init(first: firstSeen?.load(record) ?? 0, last: lastSeen?.load(record) ?? 0, flags: tcpFlags?.load(record) ?? 0)
    }

    /// Runs the entries of one run of a walk (the first at walk position `position`) through
    /// `waiting`. For an entry whose reverse waits, `body` gets the entry, its times and the waiting
    /// one's slot (released after `body` returns); for an entry whose key is its own reverse, nil.
    /// Every other entry waits, with its record when `keep` says so for its times.
    ///
    /// Greedy and exact: an entry takes the first waiting entry holding its reverse key, so a run
    /// that lists a key twice still puts every entry in one pair.
    @inline(__always)
    func match(_ entries: FlowEntries, from position: Int, waiting: UnpairedDirections,
               keep: (UnpairedDirections.Times) -> Bool,
               _ body: (_ entry: Int, _ times: UnpairedDirections.Times, _ partner: Int32?) throws -> Void) rethrows {
        // a group at a time: first the index cells (and matching keys) of the whole group are read,
        // then each entry is decided on in order, as if nothing had been read ahead
        var start = 0
        try withUnsafeTemporaryAllocation(of: Lookahead.self, capacity: Self.lookahead) { ahead in
            ahead.initialize(repeating: Lookahead())
            while start < entries.count {
                let end = Swift.min(start + Self.lookahead, entries.count)
                var sum: UInt64 = 0
                for i in start..<end {
                    let own = Words(entries.key(i), keySize: entries.keySize)
                    // the reverse's hash is the key's own (see `hash`): one home cell serves both
                    ahead[i - start] = Lookahead(reverse: own.reversed(icmpKeyed: icmpKeyed),
                                                 hash: UnpairedDirections.cellHash(own, icmpKeyed: icmpKeyed))
                }
                // the cell reads apart from the hashing, so all of the group's misses are in flight at once
                for i in start..<end { ahead[i - start].cell = waiting.homeCell(ahead[i - start].hash) }
                for i in start..<end {
                    ahead[i - start].record = waiting.touchSlot(ahead[i - start].cell, hash: ahead[i - start].hash, sum: &sum)
                }
                for i in start..<end { sum &+= waiting.touchRecord(ahead[i - start].record) }
                waiting.touched &+= sum
                for i in start..<end {
                    let key = entries.key(i), value = entries.value(i)
                    let look = ahead[i - start]
                    let t = times(value)
                    if look.reverse == Words(key, keySize: entries.keySize) {
                        try body(i, t, nil)
                    } else if let slot = waiting.take(look.reverse, hash: look.hash) {
                        defer { waiting.release(slot) }
                        try body(i, t, slot)
                    } else {
                        waiting.hold(key: key, hash: look.hash, record: keep(t) ? value : nil, times: t, position: position + i)
                    }
                }
                start = end
            }
        }
    }

    /// What the early rounds over a group read for one entry, for the decisions after them.
    struct Lookahead {
        var reverse = Words(0, 0, 0, 0, 0)
        /// The cell hash of the entry's key and of its reverse.
        var hash: UInt64 = 0
        /// The home cell of both.
        var cell: UInt64 = 0
        /// The record slot of the slot that cell names, -1 when it names none that matches or no record.
        var record: Int32 = -1
    }

    /// Entries whose index cells (and the keys they name) are read together before any is decided
    /// on: a table of a million directions fits no cache, so nearly every cell and key read misses;
    /// one entry at a time each miss waits for the one before, a group at a time they overlap.
    static let lookahead = 16

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

    /// A 40-byte key as five words: src (2), dst (2), then ports, protocol, version and padding;
    /// a 48-byte key (`tunnel`) has a sixth, its tunnel id and type (0 for a 40-byte key).
    struct Words: Equatable {
        var w0, w1, w2, w3, w4: UInt64
        var w5: UInt64 = 0

        init(_ p: UnsafeRawPointer) {
            w0 = p.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            w1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            w2 = p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            w3 = p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            w4 = p.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        }

        /// A key of `keySize` bytes: the tunnel word is read when the key has one.
        @inline(__always)
        init(_ p: UnsafeRawPointer, keySize: Int) {
            self.init(p)
            if keySize >= FlowKey.tunnelByteSize { w5 = p.loadUnaligned(fromByteOffset: 40, as: UInt64.self) }
        }

        init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64, _ w4: UInt64, _ w5: UInt64 = 0) {
            (self.w0, self.w1, self.w2, self.w3, self.w4, self.w5) = (w0, w1, w2, w3, w4, w5)
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
            return Words(w2, w3, w0, w1, rest | ports, w5) // both directions cross the same tunnel
        }
    }

    /// The seed of `hash`, drawn once per process: keys come from packets anyone can send, and with
    /// a hash known in advance a sender could pick flows that all land in one probe run of the
    /// index, making every pairing step walk it (as the kernel seeds its own map hash per map).
    static let hashSeed = UInt64.random(in: .min ... .max) | 1

    /// A hash of a key that its reverse (`Words.reversed(icmpKeyed:)`) shares, so a direction and
    /// the one it waits for sit in one probe run of `UnpairedDirections`' index: a pairing step reads
    /// one index cell, not one for its own key and one for its reverse (each a cache miss on a
    /// large table). The two endpoints (address and port) are hashed alone and added, which does not
    /// depend on their order; with ICMP keyed by type, the reverse keeps the identifier and the code
    /// and trades the type for its peer (request for reply), so the lower of the two types is hashed.
    /// Seeded per process (`hashSeed`).
    @inline(__always)
    static func hash(_ k: Words, icmpKeyed: Bool) -> UInt64 {
        @inline(__always) func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let m = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            return m ^ (m >> 29)
        }
        let seed = hashSeed
        let rest = k.w4 & 0xFFFF_FFFF_0000_0000
        if icmpKeyed && k.isICMP {
            let type = UInt8(truncatingIfNeeded: k.dport >> 8)
            let lower = Swift.min(type, FlowKey.icmpPeerType(type, v6: k.proto == 58) ?? type)
            let same = rest | UInt64(lower) << 24 | (k.w4 & 0xFF_FFFF) // the lower type, the code, the identifier
            let a = mix(mix(seed, k.w0), k.w1), b = mix(mix(seed, k.w2), k.w3)
            return k.w5 == 0 ? mix(a &+ b, same) : mix(mix(a &+ b, same), k.w5)
        }
        let a = mix(mix(mix(seed, k.w0), k.w1), UInt64(k.sport))
        let b = mix(mix(mix(seed, k.w2), k.w3), UInt64(k.dport))
        // the tunnel word (shared by the reverse) only when there is one: keys without cost nothing
        return k.w5 == 0 ? mix(a &+ b, rest) : mix(mix(a &+ b, rest), k.w5)
    }
}
