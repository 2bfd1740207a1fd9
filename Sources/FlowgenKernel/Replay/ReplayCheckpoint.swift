import FlowgenCore

/// Where a worker stands when it reaches a barrier: every worker reads the same captures, so at each
/// barrier all of them must report the same place; a disagreement means the files changed under them.
struct ReplayCheckpoint: Sendable {
    /// What the barrier is for.
    enum Kind: Sendable, Equatable {
        /// A collector pass at capture time `now`, before the packet at `packet`.
        case poll(now: UInt64)
        /// The end of a file (cleanly or at damage).
        case endOfFile
    }

    /// Index of the file in the replay list.
    var file: Int
    /// Index of the packet in the file (at a poll: the packet about to be run; at the end: packets read).
    var packet: Int
    /// Why the workers meet.
    var kind: Kind
    /// The worker's packets of this file (owned by it), for the statistics.
    var ownedPackets: Int = 0
    /// At the end of a file: why reading stopped early, if it did.
    var error: CaptureError? = nil
    /// At the end of a file: its format, if the header could be read.
    var format: String? = nil
    /// At the end of a file: the link types it announced.
    var linkTypes: [UInt32] = []

    /// Whether two workers stand at the same place.
    func agrees(with other: ReplayCheckpoint) -> Bool {
        file == other.file && packet == other.packet && kind == other.kind && error == other.error
    }
}
