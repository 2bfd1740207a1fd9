#if canImport(Glibc)
import Glibc
#endif

/// Memory for a large buffer read at random places (the collector's index and slots of waiting
/// directions): mapped whole and marked for transparent huge pages.
///
/// Why: with 4 KiB pages, a random read over a buffer of tens of MiB misses the TLB nearly every
/// time, and in a virtual machine each miss walks two sets of page tables; a fresh page also costs
/// a fault (about 3 µs on the benchmark machine). 2 MiB pages cover such a buffer with a few TLB
/// entries and fault once per 2 MiB. Machines whose THP setting is `madvise` (Debian's default)
/// give huge pages only to memory that asks. Small sizes, or a failed mapping, use the ordinary
/// allocator. Pages never written are never resident, as with `malloc`.
struct LargeAllocation {
    /// Below this, huge pages would waste more than they save.
    static let threshold = 2 << 20

    /// The memory, 8-aligned (page-aligned when mapped).
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private let mapped: Bool

    /// `byteCount` bytes, uninitialised; free with `deallocate()`.
    init(byteCount: Int) {
        self.byteCount = Swift.max(byteCount, 1)
        #if os(Linux)
        if self.byteCount >= Self.threshold,
           let region = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           region != MAP_FAILED {
            // advice only: without THP the mapping works with small pages
            _ = madvise(region, self.byteCount, MADV_HUGEPAGE)
            base = region
            mapped = true
            return
        }
        #endif
        base = UnsafeMutableRawPointer.allocate(byteCount: self.byteCount, alignment: 8)
        mapped = false
    }

    /// Frees the memory (the allocation is not used afterwards).
    func deallocate() {
        #if os(Linux)
        if mapped {
            munmap(base, byteCount)
            return
        }
        #endif
        base.deallocate()
    }
}
