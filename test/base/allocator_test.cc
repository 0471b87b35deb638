#include "base/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>

namespace base {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

// Bytes in blocks malloc mapped on their own.
size_t MappedBytes() { return mallinfo2().hblkhd; }

// Once a mapped block of 4 MiB was freed, glibc's default would take a 1 MiB block from an
// arena; with the threshold fixed it is mapped, and unmapped when freed.
TEST(AllocatorTest, LargeBlocksStayMappedAfterALargerOneIsFreed) {
  if (!kGlibcMalloc) GTEST_SKIP() << "a sanitizer's allocator replaces glibc's malloc here";
  ASSERT_EQ(unsetenv("MALLOC_MMAP_THRESHOLD_"), 0);
  ASSERT_EQ(unsetenv("GLIBC_TUNABLES"), 0);
  ASSERT_EQ(SetMallocMmapThreshold(), MmapThreshold::kSet);
  void* large = std::malloc(size_t{4} << 20);
  ASSERT_NE(large, nullptr);
  std::free(large);
  const size_t before = MappedBytes();
  void* block = std::malloc(size_t{1} << 20);
  ASSERT_NE(block, nullptr);
  EXPECT_GE(MappedBytes(), before + (size_t{1} << 20));
  std::free(block);
  EXPECT_EQ(MappedBytes(), before);
}

TEST(AllocatorTest, AnOperatorsSettingIsLeftAlone) {
  ASSERT_EQ(setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1), 0);
  EXPECT_EQ(SetMallocMmapThreshold(), MmapThreshold::kLeftToOperator);
  ASSERT_EQ(unsetenv("MALLOC_MMAP_THRESHOLD_"), 0);
  ASSERT_EQ(
      setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=65536", 1), 0);
  EXPECT_EQ(SetMallocMmapThreshold(), MmapThreshold::kLeftToOperator);
  ASSERT_EQ(unsetenv("GLIBC_TUNABLES"), 0);
}

}  // namespace
}  // namespace base
