// Fixed-size memory blocks that are recycled instead of given back to the system.
//
// A large buffer rebuilt on a period (the pre-encoded window, once per tick) costs page faults
// each time it is taken fresh: the kernel maps and zeroes every page again, and in a virtual
// machine that reports freed pages to its host, the host faults too (at 10,000 nodes this was a
// quarter of the server's CPU: README, "Benchmark"). The pool keeps freed blocks mapped for the
// next round, up to a spare limit its user sets to what one round takes. Spare blocks are marked
// MADV_FREE: the kernel may reclaim them under memory pressure instead of counting on them, and
// a block it reclaimed is simply faulted in again when reused.
//
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <cstddef>
#include <vector>

#include "base/mutex.h"

namespace base {

class BlockPool {
 public:
  static constexpr size_t kDefaultBlockBytes = 256 * 1024;

  // `block_bytes` is rounded up to whole pages.
  explicit BlockPool(size_t block_bytes = kDefaultBlockBytes);
  // Unmaps the spare blocks. Blocks taken and not given back stay mapped (they are the taker's).
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  size_t block_bytes() const { return block_bytes_; }

  // A block of block_bytes(), page-aligned: a spare one when there is one, else a fresh mapping.
  // Its content is unspecified. Throws std::bad_alloc when the system has no memory left.
  char* Take() EXCLUDES(mu_);
  // Returns a block from Take(): kept as a spare while fewer than the limit are, else unmapped.
  void Give(char* block) EXCLUDES(mu_);
  // At most `blocks` spare blocks from now on; extra spares are unmapped at once.
  void SetSpareLimit(size_t blocks) EXCLUDES(mu_);

  size_t spare() const EXCLUDES(mu_);
  // Blocks mapped through this pool and not unmapped yet (taken or spare).
  size_t mapped() const EXCLUDES(mu_);

 private:
  const size_t block_bytes_;
  mutable Mutex mu_;
  std::vector<char*> spare_ GUARDED_BY(mu_);
  size_t spare_limit_ GUARDED_BY(mu_) = 0;
  size_t mapped_ GUARDED_BY(mu_) = 0;
};

}  // namespace base
