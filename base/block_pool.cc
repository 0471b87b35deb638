#include "base/block_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

namespace base {
namespace {

size_t RoundToPages(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

void Unmap(char* block, size_t bytes) { munmap(block, bytes); }

}  // namespace

BlockPool::BlockPool(size_t block_bytes) : block_bytes_(RoundToPages(block_bytes)) {}

BlockPool::~BlockPool() {
  MutexLock lock(mu_);
  for (char* block : spare_) Unmap(block, block_bytes_);
}

char* BlockPool::Take() {
  {
    MutexLock lock(mu_);
    if (!spare_.empty()) {
      char* block = spare_.back();
      spare_.pop_back();
      return block;
    }
  }
  void* mapped =
      mmap(nullptr, block_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  MutexLock lock(mu_);
  ++mapped_;
  return static_cast<char*>(mapped);
}

void BlockPool::Give(char* block) {
  // Reclaimable under memory pressure from now on; reused as it is otherwise. Kernels without
  // MADV_FREE (before 4.5) refuse it: a spare block is then simply kept.
  madvise(block, block_bytes_, MADV_FREE);
  {
    MutexLock lock(mu_);
    if (spare_.size() < spare_limit_) {
      spare_.push_back(block);
      return;
    }
    --mapped_;
  }
  Unmap(block, block_bytes_);
}

void BlockPool::SetSpareLimit(size_t blocks) {
  std::vector<char*> extra;
  {
    MutexLock lock(mu_);
    spare_limit_ = blocks;
    while (spare_.size() > spare_limit_) {
      extra.push_back(spare_.back());
      spare_.pop_back();
      --mapped_;
    }
  }
  for (char* block : extra) Unmap(block, block_bytes_);
}

size_t BlockPool::spare() const {
  MutexLock lock(mu_);
  return spare_.size();
}

size_t BlockPool::mapped() const {
  MutexLock lock(mu_);
  return mapped_;
}

}  // namespace base
