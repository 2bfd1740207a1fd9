/// The native engine's hot path: one direct call into the library per frame (no system call, no
/// copy of the frame). One value per replay; the library is single-threaded.
struct NativeFrameRunner: FrameRunner {
    let library: NativeLibrary
    private let entry: NativeLibrary.Run

    init(library: NativeLibrary) {
        self.library = library
        entry = library.run
    }

    /// Runs the program over `frame` (cut from a frame of `length` bytes) at capture time `tstamp` (ns); the native run cannot be refused: 0.
    @inline(__always)
    mutating func run(_ frame: UnsafeRawBufferPointer, length: Int, tstamp: UInt64) -> Int32 {
        _ = entry(frame.baseAddress, UInt32(frame.count), UInt32(clamping: length), tstamp)
        return 0
    }
}
