/// The directions a pass has read and not yet paired: each waits, with its key and either its
/// record or just its times, until the entry holding its reverse key comes (or the walk ends).
///
/// A kernel map lists a flow's two directions at unrelated places, so a pass that reads the table a
/// chunk at a time holds, at any moment, the first-read direction of every flow whose second has not
/// come yet: about half the flows at mid-walk. What each holds is kept small: a 72-byte slot (the
/// 40-byte key, its first/last packet times and flags, which is all a pairing decision needs, and
/// its place in the walk), plus the record only for a direction that may end this pass (its record
/// is exported as read).
///
/// Storage is slots in flat buffers with free lists, reused as flows pair off, so memory follows
/// the number waiting, not the table; buffers sized from the table's capacity are reserved but
/// only touched as used. The index is open addressing on the key (linear probing, backward-shift
/// removal, which keeps entries with equal keys in the order they came: the first waiting is taken);
/// each index cell holds the slot and the key's hash, so a probe reads no slot but the match.
/// Everything is raw memory: this runs once per table entry, and array accesses through a class
/// would each pay a bounds and an exclusivity check.
final class UnpairedDirections {
    /// What a pairing decision needs of a direction.
    struct Times {
        var first: UInt64
        var last: UInt64
        var flags: UInt64
    }

    /// What a slot holds after the key: in the same cache lines, so taking a direction reads one place.
    private struct SlotInfo {
        var times: Times
        /// Its record slot, -1 without a record.
        var record: Int32
        /// Its place in the walk.
        var position: Int32
    }

    let keySize: Int
    let valueSize: Int
    /// Slots of `keyStride` bytes: the key, then its `SlotInfo`.
    private let slotsStore: SlotBuffer
    private let keyStride: Int
    private let records: SlotBuffer
    private var freeSlots: SlotStack
    private var freeRecords: SlotStack
    /// Cells: `slot << 32 | hash & 0xffffffff`, `empty` when free.
    private var index: UnsafeMutablePointer<UInt64>
    private var indexMemory: LargeAllocation
    private var mask: Int
    private var slots = 0
    private static let empty = UInt64.max
    /// Directions waiting.
    private(set) var count = 0
    /// Most directions waiting at once.
    private(set) var peak = 0
    /// Most records held at once (record slots are reused as flows pair off).
    var recordsPeak: Int { records.used }
    /// Where `FlowPairing.match` leaves the sum of its early reads, so they are not optimised away.
    var touched: UInt64 = 0

    /// Empty; `capacityHint` (the table's capacity, when known) sizes the reserved buffers.
    init(keySize: Int, valueSize: Int, capacityHint: Int?) {
        self.keySize = keySize
        self.valueSize = valueSize
        let reserve = capacityHint.map { max($0, 16) } ?? 1024
        keyStride = (keySize + 7) & ~7
        slotsStore = SlotBuffer(stride: keyStride + MemoryLayout<SlotInfo>.stride, capacity: reserve)
        records = SlotBuffer(stride: valueSize, capacity: reserve)
        freeSlots = SlotStack()
        freeRecords = SlotStack()
        // room for a quarter of a full table waiting at load 0.5 or less (a walk of a full table
        // holds about that many at its middle), so a large walk seldom stops to rehash
        var cells = 1024
        while cells < (capacityHint ?? 0) / 2 { cells <<= 1 }
        mask = cells - 1
        (indexMemory, index) = Self.emptyIndex(cells: cells)
    }

    deinit {
        indexMemory.deallocate()
        freeSlots.deallocate()
        freeRecords.deallocate()
    }

    /// The hash an index cell keeps of `key` (and of its reverse: see `FlowPairing.hash`).
    @inline(__always)
    static func cellHash(_ key: FlowPairing.Words, icmpKeyed: Bool) -> UInt64 {
        UInt64(truncatingIfNeeded: UInt32(truncatingIfNeeded: FlowPairing.hash(key, icmpKeyed: icmpKeyed)))
    }

    // Early reads for `FlowPairing.match`: what `take(_:hash:)` of an entry's reverse and `hold` of
    // its own key will read, in three rounds over a group of entries (home cells; then the key and
    // slot a matching cell names; then that slot's record or times), so that the group's cache
    // misses overlap instead of each waiting for the one before. Each returns what it read, to be
    // summed into `touched` so the reads are not optimised away.

    /// The index cell at the home of `hash`.
    @inline(__always)
    func homeCell(_ hash: UInt64) -> UInt64 { index[Int(hash) & mask] }

    /// For a home cell of the reverse's `hash`: the record slot of the slot it names when the
    /// hashes match (-1 otherwise), with that slot's key and info read.
    @inline(__always)
    func touchSlot(_ cell: UInt64, hash: UInt64, sum: inout UInt64) -> Int32 {
        guard cell != Self.empty && cell & 0xFFFF_FFFF == hash else { return -1 }
        let slot = slotsStore[Int(cell >> 32)]
        sum &+= slot.load(as: UInt64.self)
        return (slot + keyStride).load(as: SlotInfo.self).record
    }

    /// The first word of a record slot (-1: none).
    @inline(__always)
    func touchRecord(_ record: Int32) -> UInt64 {
        record < 0 ? 0 : records[Int(record)].load(as: UInt64.self)
    }

    /// Takes the first waiting direction whose key is `key` (`hash`: its `cellHash`): its slot, to be
    /// read and then `release`d; nil if none waits.
    @inline(__always)
    func take(_ key: FlowPairing.Words, hash: UInt64) -> Int32? {
        var s = Int(hash) & mask
        while true {
            let cell = index[s]
            if cell == Self.empty { return nil }
            if cell & 0xFFFF_FFFF == hash {
                let slot = Int32(truncatingIfNeeded: cell >> 32)
                if FlowPairing.Words(slotsStore[Int(slot)], keySize: keySize) == key {
                    removeFromIndex(at: s)
                    count -= 1
                    return slot
                }
            }
            s = (s + 1) & mask
        }
    }

    /// Adds a direction (`hash`: its key's `cellHash`): its key, its record (kept) or, nil, only its
    /// times, and its place in the walk.
    @inline(__always)
    func hold(key: UnsafeRawPointer, hash: UInt64, record: UnsafeRawPointer?, times: Times, position: Int) {
        let slot: Int
        if let free = freeSlots.pop() {
            slot = free
        } else {
            slot = slots
            slots += 1
            slotsStore.ensure(slots)
        }
        let place = slotsStore[slot]
        place.copyMemory(from: key, byteCount: keySize)
        var r = -1
        if let record {
            if let free = freeRecords.pop() { r = free } else { r = records.used; records.ensure(r + 1) }
            records[r].copyMemory(from: record, byteCount: valueSize)
        }
        (place + keyStride).storeBytes(of: SlotInfo(times: times, record: Int32(r), position: Int32(truncatingIfNeeded: position)),
                                       as: SlotInfo.self)
        count += 1
        if count > peak { peak = count }
        if count * 2 > mask + 1 { grow() }
        var i = Int(hash) & mask
        while index[i] != Self.empty { i = (i + 1) & mask }
        index[i] = UInt64(slot) << 32 | hash
    }

    @inline(__always)
    private func slotInfo(_ slot: Int32) -> SlotInfo { (slotsStore[Int(slot)] + keyStride).load(as: SlotInfo.self) }

    /// The key of a waiting (or just taken) direction.
    @inline(__always)
    func key(_ slot: Int32) -> UnsafeRawPointer { UnsafeRawPointer(slotsStore[Int(slot)]) }

    /// Its place in the walk.
    @inline(__always)
    func position(_ slot: Int32) -> Int { Int(slotInfo(slot).position) }

    /// Its record, nil if only its times were kept.
    @inline(__always)
    func record(_ slot: Int32) -> UnsafeRawPointer? {
        let r = slotInfo(slot).record
        return r >= 0 ? UnsafeRawPointer(records[Int(r)]) : nil
    }

    /// Its times.
    @inline(__always)
    func times(_ slot: Int32) -> Times { slotInfo(slot).times }

    /// Frees a taken direction's storage for the next one.
    @inline(__always)
    func release(_ slot: Int32) {
        let r = slotInfo(slot).record
        if r >= 0 { freeRecords.push(Int(r)) }
        freeSlots.push(Int(slot))
    }

    /// Takes every direction still waiting (flows whose reverse never came), in index order.
    func takeAll() -> [Int32] {
        var all: [Int32] = []
        all.reserveCapacity(count)
        for s in 0...mask where index[s] != Self.empty {
            all.append(Int32(truncatingIfNeeded: index[s] >> 32))
            index[s] = Self.empty
        }
        count = 0
        return all
    }

    private func removeFromIndex(at position: Int) {
        var hole = position
        var j = position
        while true {
            j = (j + 1) & mask
            let cell = index[j]
            if cell == Self.empty { break }
            let home = Int(cell & 0xFFFF_FFFF) & mask
            // the cell at j stays unless its home lies cyclically outside (hole, j]
            let stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !stays {
                index[hole] = cell
                hole = j
            }
        }
        index[hole] = Self.empty
    }

    /// An index of `cells` empty cells.
    private static func emptyIndex(cells: Int) -> (LargeAllocation, UnsafeMutablePointer<UInt64>) {
        let memory = LargeAllocation(byteCount: cells * MemoryLayout<UInt64>.stride)
        let cells = memory.base.initializeMemory(as: UInt64.self, repeating: empty, count: cells)
        return (memory, cells)
    }

    private func grow() {
        let old = index, oldMemory = indexMemory, oldSize = mask + 1
        mask = oldSize * 2 - 1
        (indexMemory, index) = Self.emptyIndex(cells: mask + 1)
        // from an empty cell on, so each probe run is re-inserted in its order and equal keys keep theirs
        var start = 0
        while old[start] != Self.empty { start += 1 }
        for n in 0..<oldSize {
            let cell = old[(start + n) & (oldSize - 1)]
            if cell == Self.empty { continue }
            var i = Int(cell & 0xFFFF_FFFF) & mask
            while index[i] != Self.empty { i = (i + 1) & mask }
            index[i] = cell
        }
        oldMemory.deallocate()
    }
}

/// Fixed-size slots in one allocation, reserved for `capacity` and grown by doubling past it; pages
/// of a large reservation that are never written are never resident.
final class SlotBuffer {
    let stride: Int
    private(set) var capacity: Int
    /// Slots handed out so far (the high-water mark).
    private(set) var used = 0
    private var memory: LargeAllocation
    private var storage: UnsafeMutableRawPointer

    init(stride: Int, capacity: Int) {
        self.stride = max(stride, 1)
        self.capacity = max(capacity, 1)
        memory = LargeAllocation(byteCount: self.capacity * self.stride)
        storage = memory.base
    }

    deinit { memory.deallocate() }

    /// Makes slots `0..<count` usable.
    @inline(__always)
    func ensure(_ count: Int) {
        if count > capacity { grow(to: count) }
        if count > used { used = count }
    }

    private func grow(to count: Int) {
        var bigger = capacity * 2
        while bigger < count { bigger *= 2 }
        let grown = LargeAllocation(byteCount: bigger * stride)
        grown.base.copyMemory(from: storage, byteCount: used * stride)
        memory.deallocate()
        memory = grown
        storage = grown.base
        capacity = bigger
    }

    @inline(__always)
    subscript(slot: Int) -> UnsafeMutableRawPointer { storage + slot * stride }
}

/// A stack of free slot numbers in raw memory (see `UnpairedDirections`: no checked array access).
struct SlotStack {
    private var base = UnsafeMutablePointer<Int32>.allocate(capacity: 1024)
    private var capacity = 1024
    private var top = 0

    @inline(__always)
    mutating func push(_ slot: Int) {
        if top == capacity {
            let bigger = UnsafeMutablePointer<Int32>.allocate(capacity: capacity * 2)
            bigger.update(from: base, count: top)
            base.deallocate()
            base = bigger
            capacity *= 2
        }
        base[top] = Int32(truncatingIfNeeded: slot)
        top += 1
    }

    @inline(__always)
    mutating func pop() -> Int? {
        guard top > 0 else { return nil }
        top -= 1
        return Int(base[top])
    }

    /// Frees the storage (the stack is not used afterwards).
    func deallocate() { base.deallocate() }
}
