#include "base/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace base {

MmapThreshold SetMallocMmapThreshold() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return MmapThreshold::kLeftToOperator;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.mmap_threshold") != nullptr) {
    return MmapThreshold::kLeftToOperator;
  }
  return mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold) == 1 ? MmapThreshold::kSet
                                                              : MmapThreshold::kNotSupported;
}

}  // namespace base
