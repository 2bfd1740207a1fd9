/// Runs one frame through a replay's program: `BPF_PROG_TEST_RUN` (`FrameTestRun`) or a call into
/// the native library (`NativeFrameRunner`). One value per replay thread.
protocol FrameRunner {
    /// Runs the program once over `frame` at capture time `tstamp` (ns); returns 0 or a positive errno.
    /// `length` is the frame's length before replay cut it to `frame.count` bytes: the program takes
    /// an IP length of 0 (segmentation offload) from it.
    mutating func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32
}
