import CLibBPF
import Foundation

/// Process-wide ownership of clsact qdiscs: the shared token behind every `TCAttachment`.
///
/// Each (namespace, ifindex) that has live attachments from this process has one entry counting
/// them and remembering whether this process created the qdisc. The last release destroys the
/// qdisc only if we created it and no filter at all (ours or anyone's) is left on either hook, so an
/// ingress and an egress attachment sharing a qdisc that the first one created clean up together,
/// and a clsact that existed before flowgen, or that someone else now uses, is never removed.
enum ClsactRegistry {
    struct Key: Hashable {
        var namespace: AttachmentNamespace.Identity
        var ifindex: Int32
    }

    private struct Entry {
        var users: Int
        var createdByUs: Bool
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [Key: Entry] = [:]

    /// Ensures the clsact qdisc exists and counts one more user. Must run inside the key's namespace.
    static func acquire(_ key: Key, interface: String) throws {
        lock.lock()
        defer { lock.unlock() }
        // Create even when we already hold an entry: if someone deleted the qdisc under us, it is
        // recreated and, since we created that one, ours to remove later.
        let rc = fg_tc_hook_create(key.ifindex)
        if rc < 0 && rc != -EEXIST {
            throw KernelError.systemCall(operation: "creating the clsact qdisc on \(interface)", code: -rc)
        }
        var entry = entries[key] ?? Entry(users: 0, createdByUs: false)
        entry.users += 1
        if rc == 0 { entry.createdByUs = true }
        entries[key] = entry
    }

    /// Counts one user less; the last one removes a qdisc we created if nothing is attached to it.
    /// Must run inside the key's namespace. Returns true when the qdisc was destroyed.
    @discardableResult
    static func release(_ key: Key, interface: String) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard var entry = entries[key] else { return false }
        entry.users -= 1
        if entry.users > 0 {
            entries[key] = entry
            return false
        }
        entries[key] = nil
        guard entry.createdByUs else { return false }
        let ingress = fg_tc_list(key.ifindex, 0, nil, 0)
        let egress = fg_tc_list(key.ifindex, 1, nil, 0)
        // The device vanished (veth deleted): its qdisc went with it.
        if ingress == -ENODEV || egress == -ENODEV { return false }
        if ingress < 0 { throw KernelError.systemCall(operation: "listing tc filters on \(interface) ingress", code: -ingress) }
        if egress < 0 { throw KernelError.systemCall(operation: "listing tc filters on \(interface) egress", code: -egress) }
        guard ingress == 0 && egress == 0 else { return false }
        let rc = fg_tc_hook_destroy(key.ifindex)
        if rc < 0 && rc != -ENOENT && rc != -ENODEV && rc != -EINVAL {
            throw KernelError.systemCall(operation: "removing the clsact qdisc flowgen created on \(interface)", code: -rc)
        }
        return rc == 0
    }
}
