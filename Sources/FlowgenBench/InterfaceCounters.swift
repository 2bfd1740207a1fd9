import Foundation
import FlowgenKernel
import FlowgenTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Packet counters of one interface at one instant, read in-process (getifaddrs, i.e. an rtnetlink
/// dump) from inside the interface's namespace: no `ip` process to spawn, so the timestamp is exact.
struct InterfaceCounters {
    /// Packets received (for a veth end: what its peer handed over).
    var rxPackets: UInt32
    /// Packets dropped on receive.
    var rxDropped: UInt32
    /// Packets sent.
    var txPackets: UInt32
    /// Packets dropped on transmit.
    var txDropped: UInt32
    /// CLOCK_MONOTONIC seconds when read.
    var time: Double

    /// Reads `interface` in `namespace`.
    static func read(_ interface: String, in namespace: NetworkNamespace) throws -> InterfaceCounters {
        try namespace.run {
            var list: UnsafeMutablePointer<ifaddrs>?
            guard getifaddrs(&list) == 0 else { throw TestbedError.systemCall("getifaddrs", errno: errno) }
            defer { freeifaddrs(list) }
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            var entry = list
            while let current = entry {
                defer { entry = current.pointee.ifa_next }
                guard let address = current.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_PACKET,
                      String(cString: current.pointee.ifa_name) == interface,
                      let data = current.pointee.ifa_data else { continue }
                // struct rtnl_link_stats: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors,
                // rx_dropped, tx_dropped, ... all __u32 (deltas are taken modulo 2^32).
                let stats = data.assumingMemoryBound(to: UInt32.self)
                return InterfaceCounters(rxPackets: stats[0], rxDropped: stats[6], txPackets: stats[1], txDropped: stats[7],
                                         time: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
            }
            throw TestbedError.interfaceNotFound(interface, namespace: namespace.name)
        }
    }

    /// Received packets per second between `earlier` and this reading.
    func rxRate(since earlier: InterfaceCounters) -> Double {
        Double(rxPackets &- earlier.rxPackets) / Swift.max(time - earlier.time, 1e-9)
    }
}
