import Dispatch
import Foundation
import Synchronization

/// Turns SIGINT/SIGTERM into a flag the collector loop checks, so shutdown exports every flow
/// and detaches cleanly instead of dying mid-write.
public final class StopSignal: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    private let lock = NSLock()
    private var sources: [DispatchSourceSignal] = []

    /// Creates a flag; call `install()` to bind it to signals.
    public init() {}

    /// Routes SIGINT and SIGTERM to this flag (their default action, dying, is disabled).
    public func install(signals: [Int32] = [SIGINT, SIGTERM]) {
        var made: [DispatchSourceSignal] = []
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            made.append(source)
        }
        lock.lock()
        sources.append(contentsOf: made)
        lock.unlock()
    }

    /// Requests a stop.
    public func set() { flag.store(true, ordering: .sequentiallyConsistent) }

    /// Whether a stop was requested.
    public var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }

    /// Sleeps up to `seconds`, waking early when a stop is requested. Returns true if stopped.
    @discardableResult
    public func sleep(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !isSet {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            usleep(useconds_t(min(left, 0.05) * 1_000_000))
        }
        return true
    }
}
