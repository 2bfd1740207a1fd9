import FlowgenCore

/// A bounded first-in first-out queue of Data Records waiting for a TCP connection.
struct IPFIXRecordQueue {
    /// Records accepted before `append` starts refusing.
    let capacity: Int
    private var storage: [IPFIXDataRecord] = []
    private var head = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a queue holds at least one record")
        self.capacity = capacity
    }

    /// Records waiting.
    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }

    /// Appends as many records as fit; returns how many were refused.
    mutating func append(_ records: [IPFIXDataRecord]) -> Int {
        let room = max(0, capacity - count)
        storage.append(contentsOf: records.prefix(room))
        return records.count - min(room, records.count)
    }

    /// Takes up to `n` records from the front.
    mutating func popFront(_ n: Int) -> [IPFIXDataRecord] {
        let k = min(n, count)
        let out = Array(storage[head..<(head + k)])
        head += k
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return out
    }

    /// Puts records back at the front (those taken but not delivered), even beyond the capacity:
    /// they were accepted once and are not dropped for being retried.
    mutating func prepend(_ records: [IPFIXDataRecord]) {
        guard !records.isEmpty else { return }
        if head >= records.count {
            head -= records.count
            storage.replaceSubrange(head..<(head + records.count), with: records)
        } else {
            storage = records + storage[head...]
            head = 0
        }
    }

    /// Empties the queue; returns how many records it held.
    mutating func removeAll() -> Int {
        let n = count
        storage.removeAll()
        head = 0
        return n
    }
}
