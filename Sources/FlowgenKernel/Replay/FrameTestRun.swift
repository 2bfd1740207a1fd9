import CLibBPF
import FlowgenCore

/// The replay hot path: one `BPF_PROG_TEST_RUN` per frame with a preallocated `__sk_buff` whose only
/// non-zero fields are `tstamp` (the capture time the program reads in replay mode) and, for a frame
/// replay cut, cb[0] (its uncut length). No allocation per call.
///
/// The kernel copies the frame into a fresh skb, so each call is independent; one value per thread.
struct FrameTestRun: FrameRunner {
    /// Largest frame handed to the kernel: a test-run skb must fit in one page with its headroom and
    /// shared info (longer ones get EINVAL). Replay cuts longer frames here; the program counts bytes
    /// from the IP header, so a cut frame counts exactly like a capture snapshot length would.
    static let maxFrameLength = 3_000
    /// Shortest Ethernet frame the kernel accepts.
    static let minFrameLength = 14
    /// Shortest IPv4 frame the kernel accepts (Ethernet + a 20-byte IP header).
    static let minIPv4FrameLength = 14 + 20
    /// Shortest IPv6 frame the kernel accepts (Ethernet + the 40-byte fixed header).
    static let minIPv6FrameLength = 14 + 40

    let programFD: Int32
    private var context = __sk_buff()

    init(programFD: Int32) {
        self.programFD = programFD
    }

    /// Whether the kernel would refuse this frame length for this (outermost) ethertype.
    @inline(__always)
    static func tooShort(length: Int, etherType: UInt16) -> Bool {
        if length < minFrameLength { return true }
        if etherType == 0x0800 { return length < minIPv4FrameLength }
        if etherType == 0x86DD { return length < minIPv6FrameLength }
        return false
    }

    /// Runs the program once over `frame` at capture time `tstamp` (ns); returns 0 or a positive errno.
    /// A frame cut from a longer one carries that `length` in cb[0] (parse.h's fg_frame_len).
    @inline(__always)
    mutating func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32 {
        context.tstamp = tstamp
        context.cb.0 = length > frame.count ? UInt32(clamping: length) : 0
        var retval: UInt32 = 0
        var duration: UInt32 = 0
        let size = UInt32(MemoryLayout<__sk_buff>.size)
        let fd = programFD
        let rc = withUnsafeMutablePointer(to: &context) { ctx in
            fg_test_run(fd, frame.baseAddress, UInt32(frame.count), nil, 0, ctx, size, 1, &retval, &duration)
        }
        return rc < 0 ? -rc : 0
    }
}
