import Foundation
import FlowgenCore
import FlowgenKernel

/// The end-to-end tests' one fixture: two namespaces joined by a veth pair (a: 198.18.0.1/24,
/// fd00::1/64; b: .2, ::2) and a private work folder. `close()` (or deinit) removes all of it,
/// and a failure halfway through `init` removes what was made so far.
public final class NamespacePair: @unchecked Sendable {
    /// The first namespace (where tests usually run flowgen).
    public let a: NetworkNamespace
    /// The second namespace (the peer).
    public let b: NetworkNamespace
    /// The veth pair; `veth.nameA` is in `a`, `veth.nameB` in `b`.
    public let veth: VethPair
    /// A fresh folder under the temporary directory for captures, logs and outputs.
    public let work: String
    private let lock = NSLock()
    private var closed = false

    /// Creates both namespaces (names start with `prefix`), the pair and the work folder.
    public init(prefix: String, mtu: Int? = nil) throws {
        let a = try NetworkNamespace(prefix: prefix)
        var b: NetworkNamespace?
        do {
            b = try NetworkNamespace(prefix: prefix)
            veth = try VethPair.connect(a, b!, mtu: mtu)
            work = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        } catch {
            try? b?.destroy()
            try? a.destroy()
            throw error
        }
        self.a = a
        self.b = b!
    }

    deinit { close() }

    /// Removes the namespaces (and with them the veth pair) and the work folder; idempotent.
    public func close() {
        let first = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        veth.destroy()
        try? a.destroy()
        try? b.destroy()
        try? FileManager.default.removeItem(atPath: work)
    }
}
