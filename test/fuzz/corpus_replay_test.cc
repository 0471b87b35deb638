// Replays every seed of one fuzzer's corpus as an ordinary test, so CTest covers the seeds in
// every build. Linked once per fuzzer with its LLVMFuzzerTestOneInput; the build defines
// CORPUS_DIR (the seed folder), CORPUS_SUITE (the test suite name) and CORPUS_MIN_SEEDS.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(CORPUS_SUITE, EverySeedRunsCleanly) {
  std::filesystem::path dir(CORPUS_DIR);
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
              0);
    ++seeds;
  }
  EXPECT_GE(seeds, CORPUS_MIN_SEEDS);
}

}  // namespace
