@testable import FlowgenCore

/// The pairing as it was over a whole snapshot, one entry after the other: every entry indexed
/// first, then each unpaired entry takes the first unpaired entry holding its reverse key. Kept to
/// check that pairing as a walk hands entries out (`FlowPairing.match`, entries waiting for their
/// reverse) gives exactly the same pairs, in the same order, for any snapshot (duplicate keys included).
struct ReferenceFlowPairing {
    let pairing: FlowPairing
    var icmpKeyed: Bool { pairing.icmpKeyed }
    var firstSeen: RecordField? { pairing.firstSeen }
    typealias Pair = FlowPairing.Pair
    typealias Words = FlowPairing.Words

    func orientedFirst(_ a: Words, _ aValue: UnsafeRawPointer, _ b: Words, _ bValue: UnsafeRawPointer) -> Bool {
        if let f = firstSeen {
            let ta = f.load(aValue), tb = f.load(bValue)
            if ta != tb { return ta < tb }
        }
        if a.isICMP && a.isICMPReply != b.isICMPReply { return !a.isICMPReply }
        if a.sport != b.sport { return a.sport > b.sport }
        return (a.w0.byteSwapped, a.w1.byteSwapped, a.w2.byteSwapped, a.w3.byteSwapped)
            <= (b.w0.byteSwapped, b.w1.byteSwapped, b.w2.byteSwapped, b.w3.byteSwapped)
    }

    func pairs(_ snapshot: FlowSnapshot, recordSize: Int) -> [Pair] {
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
                        var s = Int(truncatingIfNeeded: FlowPairing.hash(Words(keyBase + i * keySize), icmpKeyed: icmpKeyed)) & mask
                        while slots[s] >= 0 { s = (s + 1) & mask }
                        slots[s] = Int32(i)
                    }
                    for i in 0..<count where !used[i] {
                        used[i] = true
                        let own = Words(keyBase + i * keySize)
                        let reverse = own.reversed(icmpKeyed: icmpKeyed)
                        var partner = -1
                        if reverse != own {
                            var s = Int(truncatingIfNeeded: FlowPairing.hash(reverse, icmpKeyed: icmpKeyed)) & mask
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
}

extension FlowPairing {
    /// A paired flow as entry indices of a snapshot; `reverse` is -1 for a one-way flow.
    struct Pair: Equatable {
        /// Initiator → responder.
        var forward: Int32
        /// Responder → initiator, or -1.
        var reverse: Int32
    }

    /// The pairs `match` makes when a whole snapshot comes as one run: what the tests compare with
    /// the reference loop above and with `FlowKey.reversed`: every entry in exactly one pair, in the
    /// order of each pair's first entry; entries whose key or value is too short are left out.
    func pairs(_ snapshot: FlowSnapshot, recordSize: Int) -> [Pair] {
        guard snapshot.count > 0, snapshot.keySize >= FlowKey.byteSize, snapshot.valueSize >= recordSize else { return [] }
        let waiting = UnpairedDirections(keySize: snapshot.keySize, valueSize: snapshot.valueSize, capacityHint: snapshot.count)
        var pairs: [Pair] = []
        FlowEntries.withEntries(of: snapshot) { entries in
            match(entries, from: 0, waiting: waiting, keep: { _ in false }) { i, t, partner in
                guard let partner else { return pairs.append(Pair(forward: Int32(i), reverse: -1)) }
                let j = waiting.position(partner)
                let iFirst = orientedFirst(Words(entries.key(i)), t.first, Words(waiting.key(partner)), waiting.times(partner).first)
                pairs.append(iFirst ? Pair(forward: Int32(i), reverse: Int32(j)) : Pair(forward: Int32(j), reverse: Int32(i)))
            }
        }
        for slot in waiting.takeAll() {
            pairs.append(Pair(forward: Int32(waiting.position(slot)), reverse: -1))
            waiting.release(slot)
        }
        return pairs.sorted { min($0.forward, $0.reverse < 0 ? .max : $0.reverse) < min($1.forward, $1.reverse < 0 ? .max : $1.reverse) }
    }
}
