/// Failures that stop a replay as a whole (a damaged or unsupported file only ends that file).
public enum ReplayError: Error, CustomStringConvertible, Sendable {
    /// The workers, each reading the file itself, disagree on where they stand: the file changed while being replayed.
    case inconsistentRead(file: Int, packet: Int, otherPacket: Int)
    /// No capture file was given.
    case noFiles

    /// A one-line message.
    public var description: String {
        switch self {
        case let .inconsistentRead(file, packet, other):
            return "capture file \(file + 1) read differently by two replay threads (packet \(packet) vs \(other)): was it modified during the replay?"
        case .noFiles:
            return "no capture file given: flowgen replay FILE [FILE...]"
        }
    }
}
