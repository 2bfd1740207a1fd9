/// Room a collector keeps free in its table for the directions that arrive before its next pass can
/// free any. The high-water mark says when to evict, but a table just under it still has to take
/// every new direction until the next pass has moved its evicted flows out, and that pass may come
/// late (the kernel pass waits for an RCU grace period, a busy machine runs the collector late): a
/// fixed mark lost new flows (`table_full`) whenever more came in one gap than the mark left room
/// for. So both marks come down by twice the most directions that arrived between two passes
/// lately: a pass may come one gap late, or new flows come twice as fast, without a loss.
public struct InsertReserve: Sendable, Equatable {
    /// Passes a burst of new flows is remembered for.
    public static let window = 16
    /// Directions that arrived before each of the last `window` passes, oldest first.
    private var arrivals: [Int] = []
    /// Directions the previous pass left in the table (nil before the first pass).
    private var left: Int?

    /// No pass seen yet: no reserve.
    public init() {}

    /// The most directions that arrived between two of the last `window` passes.
    public var peak: Int { arrivals.max() ?? 0 }

    /// Notes a pass that found `entries` directions and left `left` of them: what it found beyond
    /// what the previous one left arrived in between.
    public mutating func note(entries: Int, left: Int) {
        if let previous = self.left {
            if arrivals.count == Self.window { arrivals.removeFirst() }
            arrivals.append(max(0, entries - previous))
        }
        self.left = left
    }

    /// Directions kept free for the next pass.
    public var reserve: Int { 2 * peak }

    /// The marks to evict by in a table of `capacity` directions whose configured marks are `high`
    /// and `low` (`high` `Int.max`: eviction is off, and stays off): lowered together so that at
    /// most `capacity - reserve` directions remain after a pass.
    public func marks(high: Int, low: Int, capacity: Int) -> (high: Int, low: Int) {
        guard high != .max else { return (high, low) }
        let limit = max(0, capacity - reserve)
        guard limit < high else { return (high, low) }
        return (limit, max(0, low - (high - limit)))
    }
}
