import FlowgenKernel
import FlowgenTestSupport
/// One part of `flowgen bench`; `--only` picks a subset.
public enum BenchSection: String, CaseIterable, Codable, Sendable {
    /// Per-packet cost in the kernel with BPF_PROG_TEST_RUN, next to the floor programs.
    case kernel
    /// Packets per second through a veth pair between two namespaces, AF_PACKET sender.
    case e2e
    /// Drain, decode, merge and JSON formatting of a full flow table, and memory per flow.
    case collector
    /// Cold and cached `flowgen build` wall time.
    case build
    /// `flowgen replay` against nfpcapd on one capture (needs the replay command).
    case replay
    /// Rows per second through the ClickHouse output into a local server (needs clickhouse-server).
    case clickhouse
}
