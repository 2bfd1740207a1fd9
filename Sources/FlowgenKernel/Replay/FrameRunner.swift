/// Runs one frame through a replay's program: `BPF_PROG_TEST_RUN` (`FrameTestRun`) or a call into
/// the native library (`NativeFrameRunner`). One value per replay thread.
protocol FrameRunner {
    /// Runs the program once over `frame` at capture time `tstamp` (ns); returns 0 or a positive errno.
    /// `length` is the frame's length before replay cut it to `frame.count` bytes: the program takes
    /// an IP length of 0 (segmentation offload) from it.
    mutating func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32
    /// Returns when every frame handed to `run` has run: called before the flow table is read
    /// (a collector pass, the end of a file). Runners that run each frame at once have nothing to do.
    mutating func finish()
}

extension FrameRunner {
    /// Nothing to wait for: each frame ran in `run`.
    mutating func finish() {}
}
