import CLibBPF
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A BPF program attached as a tc filter on one clsact hook of one interface; detaches exactly that filter.
///
/// The clsact qdisc is shared through a process-wide registry: it is created if missing, and removed
/// on the last detach only if this process created it and no filter of anyone remains on either hook.
/// The attachment remembers the network namespace it was made in, so detaching (or deinit) from
/// any thread acts on the same interface.
public final class TCAttachment: @unchecked Sendable {
    /// Which clsact hook: traffic arriving at (ingress) or leaving (egress) the interface.
    public enum Direction: String, Sendable, CaseIterable {
        /// Packets received by the interface.
        case ingress
        /// Packets sent by the interface.
        case egress

        var isEgress: Int32 { self == .egress ? 1 : 0 }
    }

    /// Default filter handle, "F10E" for flowgen: a fixed value so a later run can find and detach its own filter.
    public static let defaultHandle: UInt32 = 0xF10E
    /// Default priority: far from tc's automatic 49152 (0xC000) and counting down, and from the small
    /// numbers people type, so flowgen does not collide with hand-made filters.
    public static let defaultPriority: UInt32 = 0xF10E

    /// Interface name the filter is on.
    public let interface: String
    /// Its ifindex in the attachment's namespace.
    public let ifindex: Int32
    /// The hook.
    public let direction: Direction
    /// Filter handle.
    public let handle: UInt32
    /// Filter priority.
    public let priority: UInt32
    /// Kernel id of the attached program.
    public let programID: UInt32

    private let namespace: AttachmentNamespace
    private let lock = NSLock()
    private var attached = true

    /// Attaches `programFD` at `direction` of `interface` (in the calling thread's network namespace).
    /// Refuses to replace a filter that already sits at `handle`/`priority`.
    public init(interface: String, direction: Direction, programFD: Int32,
                handle: UInt32 = TCAttachment.defaultHandle, priority: UInt32 = TCAttachment.defaultPriority) throws {
        guard handle != 0, (1...0xFFFF).contains(priority) else {
            throw KernelError.systemCall(operation: "attaching to \(interface): handle must be non-zero and priority 1...65535 (got handle \(handle), priority \(priority))", code: EINVAL)
        }
        let index = if_nametoindex(interface)
        guard index != 0 else { throw KernelError.interfaceNotFound(interface) }
        var info = bpf_prog_info()
        let infoRC = fg_prog_info(programFD, &info)
        if infoRC < 0 { throw KernelError.systemCall(operation: "reading program info of fd \(programFD)", code: -infoRC) }

        self.interface = interface
        self.ifindex = Int32(index)
        self.direction = direction
        self.handle = handle
        self.priority = priority
        self.programID = info.id
        self.namespace = try AttachmentNamespace()

        let key = ClsactRegistry.Key(namespace: namespace.identity, ifindex: ifindex)
        try ClsactRegistry.acquire(key, interface: interface)
        let rc = fg_tc_attach(ifindex, direction.isEgress, programFD, handle, priority)
        if rc < 0 {
            attached = false
            _ = try? ClsactRegistry.release(key, interface: interface)
            switch -rc {
            case EEXIST:
                throw KernelError.filterExists(interface: interface, direction: direction.rawValue, handle: handle, priority: priority)
            case EINVAL:
                throw KernelError.systemCall(operation: "attaching to \(interface) \(direction.rawValue) (another kind of filter may use priority \(priority): see `tc filter show dev \(interface) \(direction.rawValue)`)", code: EINVAL)
            default:
                throw KernelError.systemCall(operation: "attaching to \(interface) \(direction.rawValue)", code: -rc)
            }
        }
    }

    deinit { try? detach() }

    /// Whether the filter is still attached (false after `detach`).
    public var isAttached: Bool {
        lock.lock()
        defer { lock.unlock() }
        return attached
    }

    /// Removes exactly this filter, then the clsact qdisc if this process created it and it is now empty.
    /// Idempotent; a filter that vanished with its interface counts as detached.
    public func detach() throws {
        lock.lock()
        defer { lock.unlock() }
        guard attached else { return }
        attached = false
        let key = ClsactRegistry.Key(namespace: namespace.identity, ifindex: ifindex)
        let (ifindex, egress, handle, priority, interface) = (ifindex, direction.isEgress, handle, priority, interface)
        let directionName = direction.rawValue
        try namespace.perform {
            let rc = fg_tc_detach(ifindex, egress, handle, priority)
            defer { _ = try? ClsactRegistry.release(key, interface: interface) }
            if rc < 0 && rc != -ENOENT && rc != -ENODEV && rc != -EINVAL {
                throw KernelError.systemCall(operation: "detaching flowgen's filter from \(interface) \(directionName)", code: -rc)
            }
        }
    }

    /// Every filter on both clsact hooks of `interface` (empty when it has no clsact qdisc).
    static func attachedPrograms(interface: String) throws -> [AttachedFilter] {
        let index = if_nametoindex(interface)
        guard index != 0 else { throw KernelError.interfaceNotFound(interface) }
        var result: [AttachedFilter] = []
        for direction in Direction.allCases {
            var capacity = 64
            while true {
                var buffer = [fg_tc_filter](repeating: fg_tc_filter(), count: capacity)
                let count = fg_tc_list(Int32(index), direction.isEgress, &buffer, Int32(capacity))
                if count < 0 {
                    throw KernelError.systemCall(operation: "listing tc filters on \(interface) \(direction.rawValue)", code: -count)
                }
                if Int(count) > capacity {
                    capacity = Int(count)
                    continue
                }
                for var entry in buffer.prefix(Int(count)) {
                    let kind = withUnsafeBytes(of: &entry.kind) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                    let name = withUnsafeBytes(of: &entry.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                    result.append(AttachedFilter(direction: direction, handle: entry.handle, priority: entry.priority,
                                                 programID: entry.prog_id, kind: kind, name: name))
                }
                break
            }
        }
        return result
    }

    /// Names of the interfaces in the calling thread's network namespace (including `lo`; callers decide).
    /// Asks the kernel (if_nameindex) rather than /sys/class/net, whose view follows the sysfs mount,
    /// not the namespace a thread has entered; falls back to /sys/class/net if that fails.
    public static func allInterfaces() -> [String] {
        var names: [String] = []
        if let list = if_nameindex() {
            var cursor = list
            while cursor.pointee.if_index != 0, let name = cursor.pointee.if_name {
                names.append(String(cString: name))
                cursor += 1
            }
            if_freenameindex(list)
        } else if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net") {
            names = entries
        }
        return names.sorted()
    }
}
