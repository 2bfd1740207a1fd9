/// Runs one frame through a replay's program: `BPF_PROG_TEST_RUN` (`FrameTestRun`) or a call into
/// the native library (`NativeFrameRunner`). One value per replay thread.
protocol FrameRunner {
    /// Runs the program once over `frame` at capture time `tstamp` (ns); returns 0 or a positive errno.
    mutating func run(_ frame: UnsafeRawBufferPointer, tstamp: UInt64) -> Int32
}
