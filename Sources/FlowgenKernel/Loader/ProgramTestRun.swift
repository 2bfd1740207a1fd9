import CLibBPF
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a loaded TC program over packet bytes with `BPF_PROG_TEST_RUN` (offline replay, kernel tests).
///
/// Each call is one independent system call with its own buffers, so one value may be used from
/// many threads at once. The program fd is borrowed: keep its `LoadedObject` open meanwhile.
public struct ProgramTestRun: Sendable {
    /// The `__sk_buff` fields the kernel lets a test run set (everything else must stay zero, or it
    /// answers EINVAL). Replay sets `tstamp` to the capture time so the program sees pcap time.
    public struct Context: Sendable, Equatable {
        /// `skb->mark`.
        public var mark: UInt32 = 0
        /// `skb->priority`.
        public var priority: UInt32 = 0
        /// Ingress interface index the program sees (need not exist).
        public var ingressIfindex: UInt32 = 0
        /// Interface index the packet is on; values above 1 must name a device in the caller's namespace.
        public var ifindex: UInt32 = 0
        /// The five `cb[]` scratch words.
        public var cb: [UInt32] = [0, 0, 0, 0, 0]
        /// `skb->tstamp` in ns (delivery time: what `skb->tstamp` reads in the program).
        public var tstamp: UInt64 = 0
        /// Length on the wire; 0 means the packet length, otherwise at least the packet length.
        public var wireLength: UInt32 = 0
        /// GSO segment count (what `gso_segs` reads: packets a GSO skb stands for).
        public var gsoSegments: UInt32 = 0
        /// GSO segment size.
        public var gsoSize: UInt32 = 0
        /// Hardware timestamp in ns.
        public var hardwareTimestamp: UInt64 = 0

        /// Creates a context with every field zero.
        public init() {}

        /// Creates a context with the fields replay usually sets.
        public init(tstamp: UInt64 = 0, ifindex: UInt32 = 0, wireLength: UInt32 = 0, gsoSegments: UInt32 = 0) {
            self.tstamp = tstamp
            self.ifindex = ifindex
            self.wireLength = wireLength
            self.gsoSegments = gsoSegments
        }
    }

    /// What one test run returned.
    public struct Outcome: Sendable, Equatable {
        /// The program's return value as the kernel reports it (TC_ACT_UNSPEC, -1, reads 0xFFFF_FFFF).
        public var returnValue: UInt32
        /// Average run time per repetition in ns, as measured by the kernel.
        public var durationNanoseconds: UInt32
        /// Packet bytes after the program ran (empty unless output was requested).
        public var output: [UInt8]
        /// The context after the run (nil unless a context was passed).
        public var context: Context?

        /// The return value as the signed `int` the program returned.
        public var signedReturnValue: Int32 { Int32(bitPattern: returnValue) }
    }

    /// Program file descriptor (borrowed).
    public let programFD: Int32

    /// Wraps a program fd.
    public init(programFD: Int32) {
        self.programFD = programFD
    }

    /// Runs the program `repetitions` times over `packet` (an Ethernet frame, at least 14 bytes).
    /// With `captureOutput`, returns the packet as the program left it (room for 4 KiB of growth).
    public func run(_ packet: [UInt8], repetitions: UInt32 = 1, context: Context? = nil,
                    captureOutput: Bool = false) throws -> Outcome {
        var retval: UInt32 = 0
        var duration: UInt32 = 0
        var output = [UInt8](repeating: 0, count: captureOutput ? packet.count + 4096 : 0)
        var outputSize = UInt32(output.count)
        var contextIn = context.map(Self.skb)
        var contextOut = __sk_buff()
        let contextSize = UInt32(MemoryLayout<__sk_buff>.size)

        let rc: Int32 = packet.withUnsafeBytes { data in
            output.withUnsafeMutableBytes { out in
                withUnsafeMutablePointer(to: &contextOut) { ctxOut in
                    withOptionalPointer(&contextIn) { ctxIn in
                        fg_test_run_ex(programFD, data.baseAddress, UInt32(data.count),
                                       captureOutput ? out.baseAddress : nil, &outputSize,
                                       ctxIn, contextSize, ctxIn == nil ? nil : ctxOut,
                                       max(repetitions, 1), &retval, &duration)
                    }
                }
            }
        }
        if rc < 0 { throw KernelError.testRunFailed(code: -rc, hint: Self.hint(for: -rc, packet: packet, context: context)) }
        if captureOutput { output.removeLast(output.count - min(Int(outputSize), output.count)) }
        return Outcome(returnValue: retval, durationNanoseconds: duration, output: output,
                       context: context == nil ? nil : Self.context(contextOut))
    }

    private static func skb(_ context: Context) -> __sk_buff {
        var skb = __sk_buff()
        skb.mark = context.mark
        skb.priority = context.priority
        skb.ingress_ifindex = context.ingressIfindex
        skb.ifindex = context.ifindex
        var cb = context.cb + [UInt32](repeating: 0, count: max(0, 5 - context.cb.count))
        skb.cb = (cb[0], cb[1], cb[2], cb[3], cb[4])
        cb.removeAll()
        skb.tstamp = context.tstamp
        skb.wire_len = context.wireLength
        skb.gso_segs = context.gsoSegments
        skb.gso_size = context.gsoSize
        skb.hwtstamp = context.hardwareTimestamp
        return skb
    }

    private static func context(_ skb: __sk_buff) -> Context {
        var context = Context()
        context.mark = skb.mark
        context.priority = skb.priority
        context.ingressIfindex = skb.ingress_ifindex
        context.ifindex = skb.ifindex
        context.cb = [skb.cb.0, skb.cb.1, skb.cb.2, skb.cb.3, skb.cb.4]
        context.tstamp = skb.tstamp
        context.wireLength = skb.wire_len
        context.gsoSegments = skb.gso_segs
        context.gsoSize = skb.gso_size
        context.hardwareTimestamp = skb.hwtstamp
        return context
    }

    private static func hint(for code: Int32, packet: [UInt8], context: Context?) -> String {
        switch code {
        case EINVAL:
            if packet.count < 14 { return "the packet is \(packet.count) bytes, shorter than an Ethernet header (14)" }
            if let context, context.wireLength != 0, Int(context.wireLength) < packet.count {
                return "wireLength \(context.wireLength) is below the packet length \(packet.count)"
            }
            return "the kernel refused the packet or context (only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp may be set)"
        case ENODEV:
            return "context ifindex \(context?.ifindex ?? 0) names no interface in this network namespace"
        case EPERM, EACCES:
            return "test runs need root (CAP_BPF and CAP_NET_ADMIN)"
        case ENOSPC:
            return "the program grew the packet beyond the output buffer"
        default:
            return ""
        }
    }
}

/// Passes a pointer to the optional's payload, or nil, without copying the payload.
private func withOptionalPointer<T, R>(_ value: inout T?, _ body: (UnsafeMutablePointer<T>?) -> R) -> R {
    guard value != nil else { return body(nil) }
    return withUnsafeMutablePointer(to: &value!) { body($0) }
}
