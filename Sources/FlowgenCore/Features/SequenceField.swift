import Yams

/// The first packets of a flow in arrival order over both directions, exported as three arrays
/// (direction, size, gap in ms), padded with -1: nfstream's SPLT (`splt_direction`, `splt_ps`,
/// `splt_piat_ms`). Each direction's record keeps its own first `length` packets in slots it claims
/// with an atomic add (`count`), each with its ns time, its size and how many packets of the other
/// direction the record had seen before it (`order`); the collector merges the two lists at export.
/// Declared in `fields:` with `sequence:` instead of `type:`/`derive:`.
public struct SequenceField: Sendable, Equatable {
    /// Name, unique among the selected modules' fields.
    public var name: String
    /// Packets kept per flow (and per direction).
    public var length: Int
    /// Stored scalar: slots claimed in this direction (may pass `length`).
    public var count: String
    /// Stored array of `length`: each slot's packet time, ns.
    public var time: String
    /// Stored array of `length`: each slot's packet size.
    public var size: String
    /// Stored array of `length`: packets of the other direction seen before the slot's packet.
    public var order: String
    /// Output names (forward: direction, size, gap).
    public var json: DirectionalNames
    /// Where the field was declared ("file:line").
    public var location: String
    /// `length:` written as a parameter (`$n`), recomputed when the selection sets it; nil for a number.
    public var lengthExpression: String?

    /// Creates a sequence field.
    public init(name: String, length: Int, count: String, time: String, size: String, order: String,
                json: DirectionalNames, location: String = "") {
        self.name = name
        self.length = length
        self.count = count
        self.time = time
        self.size = size
        self.order = order
        self.json = json
        self.location = location
    }

    /// The longest sequence a module may declare (its arrays take 3 × 8 bytes per packet and direction).
    public static let maxLength = 64

    /// Checks that each sequence names stored fields of its own module: `count` a scalar, the
    /// others arrays of exactly `length` elements.
    static func check(_ modules: [FeatureModule]) throws {
        for m in modules {
            let stored = Dictionary(m.fields.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for s in m.sequences {
                let (file, line) = DerivedField.split(s.location)
                for (role, name, elements) in [("count", s.count, 1), ("time", s.time, s.length), ("size", s.size, s.length), ("order", s.order, s.length)] {
                    guard let f = stored[name] else {
                        throw FeatureError.malformed(file: file, line: line, message:
                            "field '\(s.name)': sequence `\(role)` names '\(name)', which module '\(m.name)' does not store (declare it in the same module)")
                    }
                    if f.count != elements {
                        throw FeatureError.malformed(file: file, line: line, message:
                            "field '\(s.name)': sequence `\(role)` '\(name)' has \(f.count) element\(f.count == 1 ? "" : "s"), needs \(elements) (a histogram with bins: \(elements) for an array)")
                    }
                }
            }
        }
    }

    /// The merged sequence of one flow: per position, the direction (0 initiator, 1 responder), the
    /// size and the gap in ms to the position before (0 for the first); -1 past the packets seen.
    /// `forward`/`reverse`: each direction's claimed count and its slots (time ns, size, order).
    /// Order: by time; at equal times (a capture's µs), by `order`: a packet that had seen j
    /// packets of the other direction came before that direction's packet j.
    public static func merge(length: Int, forward: Slots, reverse: Slots?) -> (direction: [Int64], size: [Int64], gap: [Int64]) {
        var out = [Int64](repeating: -1, count: 3 * length)
        forward.withPointers { f in
            func run(_ r: SlotPointers?) {
                out.withUnsafeMutableBufferPointer { merge(length: length, forward: f, reverse: r, into: $0.baseAddress!) }
            }
            if let reverse { reverse.withPointers { run($0) } } else { run(nil) }
        }
        return (Array(out[0..<length]), Array(out[length..<(2 * length)]), Array(out[(2 * length)...]))
    }

    /// One direction's slots where they are stored (the decoded values of a record): read in place,
    /// so that merging a flow's sequence for export allocates nothing.
    struct SlotPointers {
        /// Slots claimed (may pass the arrays' length).
        var count: UInt64
        /// Times, sizes and orders: `available` of each.
        var time: UnsafePointer<UInt64>
        var size: UnsafePointer<UInt64>
        var order: UnsafePointer<UInt64>
        /// Elements in each of the three arrays.
        var available: Int
    }

    /// `merge` into `out`: direction at `out[0..<length]`, size at `out[length..<2 length]`, gap at
    /// `out[2 length..<3 length]`, with no allocation (the entries are sorted in a temporary
    /// buffer by the same standard-library sort as before, so ties come out as they did).
    static func merge(length: Int, forward: SlotPointers, reverse: SlotPointers?, into out: UnsafeMutablePointer<Int64>) {
        struct Entry { var time: UInt64; var size: UInt64; var order: UInt64; var index: Int; var reverse: Bool }
        withUnsafeTemporaryAllocation(of: Entry.self, capacity: 2 * Swift.max(length, 1)) { entries in
            var n = 0
            for (slots, isReverse) in [(forward, false), (reverse, true)] {
                guard let slots else { continue }
                for i in 0..<Swift.min(Int(clamping: slots.count), length, slots.available) {
                    (entries.baseAddress! + n).initialize(to: Entry(time: slots.time[i], size: slots.size[i], order: slots.order[i],
                                                                    index: i, reverse: isReverse))
                    n += 1
                }
            }
            var sorted = UnsafeMutableBufferPointer(rebasing: entries[0..<n])
            sorted.sort { a, b in
                if a.time != b.time { return a.time < b.time }
                if a.reverse == b.reverse { return a.index < b.index }
                // a saw `a.order` packets of b's direction: b came first when b.index < a.order
                return UInt64(b.index) >= a.order
            }
            out.update(repeating: -1, count: 3 * length)
            var previousMs: UInt64 = 0
            for k in 0..<Swift.min(n, length) {
                let e = sorted[k]
                out[k] = e.reverse ? 1 : 0
                out[length + k] = Int64(clamping: e.size)
                let ms = e.time / 1_000_000
                out[2 * length + k] = k == 0 ? 0 : Int64(clamping: ms >= previousMs ? ms - previousMs : 0)
                previousMs = Swift.max(previousMs, ms)
            }
            _ = sorted.deinitialize()
        }
    }

    /// One direction's slots, as stored.
    public struct Slots {
        /// Slots claimed (at most `length` of them hold a packet).
        public var count: UInt64
        /// Times, ns.
        public var time: [UInt64]
        /// Sizes.
        public var size: [UInt64]
        /// Packets of the other direction seen before each.
        public var order: [UInt64]

        /// Creates a direction's slots.
        public init(count: UInt64, time: [UInt64], size: [UInt64], order: [UInt64]) {
            self.count = count
            self.time = time
            self.size = size
            self.order = order
        }

        /// Calls `body` with the slots in place (`available`: the shortest of the three arrays).
        func withPointers<R>(_ body: (SlotPointers) -> R) -> R {
            // three empty arrays may share one storage: a dummy element gives every pointer a target
            let padded = time.isEmpty || size.isEmpty || order.isEmpty
            let (t, s, o) = padded ? (time + [0], size + [0], order + [0]) : (time, size, order)
            let available = padded ? 0 : Swift.min(time.count, size.count, order.count)
            return t.withUnsafeBufferPointer { t in
                s.withUnsafeBufferPointer { s in
                    o.withUnsafeBufferPointer { o in
                        body(SlotPointers(count: count, time: t.baseAddress!, size: s.baseAddress!, order: o.baseAddress!, available: available))
                    }
                }
            }
        }
    }
}

extension SpecReader {
    /// Parses a `fields:` entry with `sequence:` (name, sequence, json).
    func sequenceField(_ node: Node) throws -> SequenceField {
        guard let map = node.mapping else { throw error(node, "each field must be a mapping") }
        try allowOnly(["name", "sequence", "json"], in: map, what: "sequence field (with `sequence:`)")
        let name = try identifier(map, "name", required: true)!
        guard let specNode = map["sequence"], let spec = specNode.mapping else {
            throw error(map["sequence"] ?? node, "field '\(name)': `sequence` must be a mapping with length:, count:, time:, size: and order:")
        }
        try allowOnly(["length", "count", "time", "size", "order"], in: spec, what: "sequence")
        guard let lengthNode = spec["length"],
              let (length, lengthExpression) = try count(lengthNode, parameters: parameters, what: "field '\(name)': sequence `length`",
                                                         range: 1...SequenceField.maxLength) else {
            throw error(spec["length"] ?? specNode, "field '\(name)': sequence `length` must be a number of packets from 1 to \(SequenceField.maxLength), or a parameter ($n)")
        }
        func member(_ key: String) throws -> String {
            guard let s = try identifier(spec, key, required: false) else {
                throw error(specNode, "field '\(name)': sequence needs `\(key):`, the stored field holding the \(key)")
            }
            return s
        }
        var field = SequenceField(name: name, length: length, count: try member("count"), time: try member("time"),
                                  size: try member("size"), order: try member("order"), json: DirectionalNames(),
                                  location: "\(file):\(node.mark?.line ?? 1)")
        field.lengthExpression = lengthExpression
        guard let jsonNode = map["json"] else {
            throw error(node, "field '\(name)': a sequence needs `json: { forward: [DIRECTION, SIZE, GAP] }`")
        }
        field.json = try names(jsonNode, field: name, count: 3)
        if field.json.forward.isEmpty || !field.json.reverse.isEmpty || !field.json.combined.isEmpty {
            throw error(jsonNode, "field '\(name)': a sequence covers both directions: name its three arrays under `forward` only")
        }
        return field
    }
}
