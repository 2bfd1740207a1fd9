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
final class PipelinedNativeRunner: FrameRunner {
    /// Bytes per block: about 500 frames of the usual sizes, handed over with one lock operation.
    static let blockSize = 256 * 1024
    /// Blocks in the arena: the reading side runs at most this far ahead.
    static let blockCount = 8
    /// Bytes before each frame: its length, its length before any cut, its time.
    static let headerSize = 16

    /// What both threads share. The run thread holds it strongly: a runner released before its
    /// thread got going (a short or refused capture on a busy machine) must not leave the thread
    /// an unowned reference to an object already being destroyed (that crashed a replay).
    private final class Shared: @unchecked Sendable {
        let entry: NativeLibrary.Run
        /// Keeps the library loaded while the run thread calls into it.
        let library: NativeLibrary
        let arena = UnsafeMutableRawPointer.allocate(byteCount: PipelinedNativeRunner.blockSize * PipelinedNativeRunner.blockCount, alignment: 64)
        let condition = NSCondition()
        /// Blocks handed over and not yet run (index, bytes used), in order.
        var ready: [(block: Int, used: Int)] = []
        /// Blocks free for the reading side.
        var free = Array(1..<PipelinedNativeRunner.blockCount)
        /// Whether the run thread is running a block now.
        var running = false
        var stopping = false
        var stopped = false

        init(library: NativeLibrary) {
            self.library = library
            entry = library.run
        }

        deinit { arena.deallocate() }

        /// The run thread: runs the blocks handed over, in order, until told to stop.
        func loop() {
            condition.lock()
            while true {
                while ready.isEmpty && !stopping { condition.wait() }
                if stopping { break }
                let (block, count) = ready.removeFirst()
                running = true
                condition.unlock()
                let base = arena + block * PipelinedNativeRunner.blockSize
                var offset = 0
                while offset < count {
                    let p = base + offset
                    let length = p.load(as: UInt32.self)
                    let full = p.load(fromByteOffset: 4, as: UInt32.self)
                    let tstamp = p.load(fromByteOffset: 8, as: UInt64.self)
                    _ = entry(p + PipelinedNativeRunner.headerSize, length, full, tstamp)
                    offset += PipelinedNativeRunner.headerSize + (Int(length) + 7) & ~7
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

    private let shared: Shared
    /// The block being filled by the reading side, and how much of it is used (touched for every
    /// frame, by the reading thread only: without the run-time exclusivity checks).
    @exclusivity(unchecked) private var current = 0
    @exclusivity(unchecked) private var used = 0

    init(library: NativeLibrary) {
        let shared = Shared(library: library)
        self.shared = shared
        let thread = Thread { shared.loop() }
        thread.name = "flowgen-replay-native"
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        // the thread stops once it has run what it was given (finish() has waited for that)
        shared.condition.lock()
        shared.stopping = true
        shared.condition.broadcast()
        while !shared.stopped { shared.condition.wait() }
        shared.condition.unlock()
    }

    /// Copies the frame into the current block (handing the block over when it is full); it runs
    /// later, on the run thread. The native run cannot be refused: 0.
    @inline(__always)
    func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32 {
        let record = Self.headerSize + (frame.count + 7) & ~7
        // frames come cut to FrameTestRun.maxFrameLength (3,000 bytes): a block holds dozens
        precondition(record <= Self.blockSize, "a replayed frame of \(frame.count) bytes does not fit a block")
        if used + record > Self.blockSize { handOver(waitingForAll: false) }
        let p = shared.arena + current * Self.blockSize + used
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
        let s = shared
        s.condition.lock()
        defer { s.condition.unlock() }
        if used > 0 {
            s.ready.append((current, used))
            s.condition.broadcast()
            while s.free.isEmpty { s.condition.wait() }
            current = s.free.removeLast()
            used = 0
        }
        if waitingForAll {
            while !s.ready.isEmpty || s.running { s.condition.wait() }
        }
    }
}
