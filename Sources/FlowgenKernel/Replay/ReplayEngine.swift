/// Which engine runs a replay's packets (`flowgen replay --engine`).
public enum ReplayEngine: String, Sendable, CaseIterable {
    /// The verified BPF program in the kernel, one `BPF_PROG_TEST_RUN` per packet (needs root).
    case kernel
    /// The same generated C compiled for this machine and called directly (no root, no BPF).
    case native
}
