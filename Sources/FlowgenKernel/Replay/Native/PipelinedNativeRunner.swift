import Foundation

/// The native engine's runner on a machine with more than one CPU: the replay thread reads and
/// frames packets and copies each frame into a block of a small arena; a second thread runs the
/// blocks' frames through the library, in the order they were handed over. Reading a capture
/// (the file's bytes, the record headers, the flow hash) costs about as much as running the
/// program, so the two halves of a packet's work overlap instead of adding up.
///
/// `finish()` returns when every frame handed over has run: the replay worker calls it before the
/// table is read (each collector pass, the end of each file), so the collector sees exactly the
/// table the one-thread runner would have left, and the output is the same byte for byte. Between
/// two `finish()` calls only the run thread touches the library; the lock that hands the blocks
/// over orders its writes before the reads that follow.
final class PipelinedNativeRunner: FrameRunner, @unchecked Sendable {
    /// Bytes per block: about 500 frames of the usual sizes, handed over with one lock operation.
    static let blockSize = 256 * 1024
    /// Blocks in the arena: the reading side runs at most this far ahead.
    static let blockCount = 8
    /// Bytes before each frame: its length, its length before any cut, its time.
    static let headerSize = 16

    private let entry: NativeLibrary.Run
    /// Keeps the library loaded while the run thread calls into it.
    private let library: NativeLibrary
    private let arena: UnsafeMutableRawPointer
    private let condition = NSCondition()
    /// Blocks handed over and not yet run (index, bytes used), in order.
    private var ready: [(block: Int, used: Int)] = []
    /// Blocks free for the reading side.
    private var free: [Int]
    /// Whether the run thread is running a block now.
    private var running = false
    private var stopping = false
    private var stopped = false
    /// The block being filled by the reading side, and how much of it is used.
    private var current: Int
    private var used = 0

    init(library: NativeLibrary) {
        self.library = library
        entry = library.run
        arena = UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize * Self.blockCount, alignment: 64)
        free = Array(1..<Self.blockCount)
        current = 0
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "flowgen-replay-native"
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
        arena.deallocate()
    }

    /// Copies the frame into the current block (handing the block over when it is full); it runs
    /// later, on the run thread. The native run cannot be refused: 0.
    @inline(__always)
    func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32 {
        let record = Self.headerSize + (frame.count + 7) & ~7
        // frames come cut to FrameTestRun.maxFrameLength (3,000 bytes): a block holds dozens
        precondition(record <= Self.blockSize, "a replayed frame of \(frame.count) bytes does not fit a block")
        if used + record > Self.blockSize { handOver(waitingForAll: false) }
        let p = arena + current * Self.blockSize + used
        p.storeBytes(of: UInt32(frame.count), as: UInt32.self)
        p.storeBytes(of: UInt32(clamping: length), toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: tstamp, toByteOffset: 8, as: UInt64.self)
        if let base = frame.baseAddress, frame.count > 0 { (p + Self.headerSize).copyMemory(from: base, byteCount: frame.count) }
        used += record
        return 0
    }

    /// Returns when every frame handed over so far has run.
    func finish() {
        handOver(waitingForAll: true)
    }

    /// Hands the current block over (when it holds frames) and takes a free one; with
    /// `waitingForAll`, also waits until the run thread has run every block.
    private func handOver(waitingForAll: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if used > 0 {
            ready.append((current, used))
            condition.broadcast()
            while free.isEmpty { condition.wait() }
            current = free.removeLast()
            used = 0
        }
        if waitingForAll {
            while !ready.isEmpty || running { condition.wait() }
        }
    }

    private func loop() {
        condition.lock()
        while true {
            while ready.isEmpty && !stopping { condition.wait() }
            if stopping { break }
            let (block, count) = ready.removeFirst()
            running = true
            condition.unlock()
            let base = arena + block * Self.blockSize
            var offset = 0
            while offset < count {
                let p = base + offset
                let length = p.load(as: UInt32.self)
                let full = p.load(fromByteOffset: 4, as: UInt32.self)
                let tstamp = p.load(fromByteOffset: 8, as: UInt64.self)
                _ = entry(p + Self.headerSize, length, full, tstamp)
                offset += Self.headerSize + (Int(length) + 7) & ~7
            }
            condition.lock()
            running = false
            free.append(block)
            condition.broadcast()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
