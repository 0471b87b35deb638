// Process-wide settings of glibc's allocator, applied once at start.
#pragma once

namespace base {

// What SetMallocMmapThreshold did.
enum class MmapThreshold {
  kSet,             // fixed at kMallocMmapThreshold
  kLeftToOperator,  // MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES's mmap_threshold is set: theirs
  kNotSupported,    // the allocator refused (not glibc's: a sanitizer's, for one)
};

inline constexpr int kMallocMmapThreshold = 128 * 1024;

// Fixes the size from which glibc's malloc maps a block of its own (munmap'd when freed) at
// kMallocMmapThreshold, glibc's initial value, instead of letting it follow the blocks freed.
//
// By default glibc raises that threshold to the size of every mapped block freed (up to 32 MiB
// on 64-bit), so after the first window, informer page or list body is freed, the next ones of
// that size come from the arenas, among the small objects that live long (cache entries, the
// store's state): their pages stay resident after the large block is freed and malloc_trim
// cannot give back what the small objects pin. Fixed, large blocks are mapped and unmapped as a
// whole. The fleet benchmark at 1,000 nodes: RSS per node 42–45 KiB -> 38–39 (README,
// "Benchmark"). Call before starting threads.
MmapThreshold SetMallocMmapThreshold();

}  // namespace base
