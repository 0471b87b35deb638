// The production kubelet text parser against the reference (the parser before its fast path,
// reference_resource_metrics.h): on the fuzz corpus, on generated kubelet payloads and on many
// mutations of both, the two must accept and reject the same inputs with the same message and
// produce the same result, field for field and bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "scraper/resource_metrics.h"
#include "test/scraper/reference_resource_metrics.h"
#include "test/testing/kubelet_payload.h"

namespace scraper {
namespace {

constexpr base::UnixNanos kScrapeTime = 1'700'000'000'123'000'000;

void ExpectSameUsage(const ResourceUsage& got, const ResourceUsage& want, const std::string& what) {
  EXPECT_EQ(got.has_cpu, want.has_cpu) << what;
  EXPECT_EQ(got.has_memory, want.has_memory) << what;
  EXPECT_EQ(got.cpu_timestamp, want.cpu_timestamp) << what;
  EXPECT_EQ(got.memory_timestamp, want.memory_timestamp) << what;
  EXPECT_EQ(got.cpu_ns, want.cpu_ns) << what;
  EXPECT_EQ(got.memory_bytes, want.memory_bytes) << what;
  EXPECT_EQ(got.has_swap, want.has_swap) << what;
  EXPECT_EQ(got.swap_bytes, want.swap_bytes) << what;
}

// Parses `text` with both parsers (each into a result it reuses, as the scraper does) and
// compares. Returns whether the input parsed, to let callers count both kinds.
bool ExpectSameAsReference(std::string_view text, ResourceMetrics* got, ResourceMetrics* want) {
  base::Status got_status = ParseResourceMetrics(text, kScrapeTime, got);
  base::Status want_status = scraper_reference::ParseResourceMetrics(text, kScrapeTime, want);
  EXPECT_EQ(got_status.ok(), want_status.ok()) << text;
  EXPECT_EQ(got_status.message(), want_status.message()) << text;
  if (!got_status.ok() || !want_status.ok()) return false;
  ExpectSameUsage(got->node, want->node, "node");
  EXPECT_EQ(got->scrape_error, want->scrape_error);
  EXPECT_EQ(got->ignored_samples, want->ignored_samples);
  EXPECT_EQ(got->containers.size(), want->containers.size());
  for (size_t i = 0; i < got->containers.size() && i < want->containers.size(); ++i) {
    const ContainerUsage& g = got->containers[i];
    const ContainerUsage& w = want->containers[i];
    std::string what =
        std::string(w.namespace_) + "/" + std::string(w.pod) + "/" + std::string(w.container);
    EXPECT_EQ(g.namespace_, w.namespace_) << what;
    EXPECT_EQ(g.pod, w.pod) << what;
    EXPECT_EQ(g.container, w.container) << what;
    EXPECT_EQ(g.start_time, w.start_time) << what;
    ExpectSameUsage(g, w, what);
  }
  return true;
}

std::vector<std::string> CorpusSeeds() {
  std::vector<std::string> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(KUBELET_TEXT_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

// xorshift64: reproducible mutations.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 2685821657736338717ull + 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

// Bytes that change how a line parses: separators, quotes, escapes, blanks, digits, signs,
// exponent and special-value letters, a NUL.
constexpr char kInteresting[] = " \t\n\r\"\\{}=,#.eE+-0123456789aNInfx:_\0";

// One random edit of `text`: replace, insert or delete a byte, duplicate or drop a line, cut
// the body short, or overwrite a value with an unusual number.
void Mutate(Random& r, std::string* text) {
  static const char* kNumbers[] = {"1e22",    "1e23",     "9007199254740993",
                                   "0.1e-22", "4.9e-324", "1.7976931348623157e308",
                                   "1e309",   "-0",       "+5",
                                   "0x1p3",   "NaN",      "-Inf",
                                   "+inf",    ".5",       "5.",
                                   "00012",   "1e+",      "12345678901234567890",
                                   "1_0",     "1ee2"};
  size_t pos = r.Below(text->size() + 1);
  switch (r.Below(8)) {
    case 0:
      if (!text->empty())
        (*text)[r.Below(text->size())] = kInteresting[r.Below(sizeof kInteresting)];
      break;
    case 1:
      text->insert(pos, 1, kInteresting[r.Below(sizeof kInteresting)]);
      break;
    case 2:
      if (pos < text->size()) text->erase(pos, 1);
      break;
    case 3: {  // duplicate the line at pos
      size_t start = text->rfind('\n', pos == 0 ? 0 : pos - 1);
      start = start == std::string::npos ? 0 : start + 1;
      size_t end = text->find('\n', start);
      end = end == std::string::npos ? text->size() : end + 1;
      text->insert(end, text->substr(start, end - start));
      break;
    }
    case 4: {  // drop the line at pos
      size_t start = text->rfind('\n', pos == 0 ? 0 : pos - 1);
      start = start == std::string::npos ? 0 : start + 1;
      size_t end = text->find('\n', start);
      text->erase(start, end == std::string::npos ? std::string::npos : end + 1 - start);
      break;
    }
    case 5:
      text->resize(pos);
      break;
    case 6: {  // replace the token after a space with a number
      size_t space = text->find(' ', pos);
      if (space == std::string::npos) break;
      size_t end = text->find_first_of(" \n", space + 1);
      if (end == std::string::npos) end = text->size();
      text->replace(space + 1, end - space - 1, kNumbers[r.Below(std::size(kNumbers))]);
      break;
    }
    case 7: {  // copy a piece of the text elsewhere: repeated labels, names, values
      size_t from = r.Below(text->size());
      std::string piece = text->substr(from, 1 + r.Below(40));
      text->insert(r.Below(text->size() + 1), piece);
      break;
    }
  }
}

TEST(ResourceMetricsDifferential, CorpusSeeds) {
  ResourceMetrics got, want;
  std::vector<std::string> seeds = CorpusSeeds();
  ASSERT_GE(seeds.size(), 10u);
  for (const std::string& seed : seeds) ExpectSameAsReference(seed, &got, &want);
}

TEST(ResourceMetricsDifferential, GeneratedPayloads) {
  ResourceMetrics got, want;
  for (int pods : {0, 1, 7, 30, 110}) {
    for (int containers : {1, 2, 5}) {
      for (uint32_t seed : {1u, 2u, 3u}) {
        std::string payload = testing_support::KubeletPayload(
            pods, containers, 1'700'000'000'000 + seed * 15'000, seed);
        EXPECT_TRUE(ExpectSameAsReference(payload, &got, &want));
        // The generator has four container names, so a fifth container repeats the first.
        EXPECT_EQ(got.containers.size(), static_cast<size_t>(pods * std::min(containers, 4)));
      }
    }
  }
}

// Payloads whose containers have 1 to 60 distinct names: from one ascending run in the kubelet's
// order to one run per container or so.
TEST(ResourceMetricsDifferential, ContainerNameVariety) {
  ResourceMetrics got, want;
  Random r(7);
  for (size_t names : {1, 2, 3, 9, 16, 17, 40, 60}) {
    std::vector<std::string> container_names, pod_names;
    for (size_t i = 0; i < names; ++i)
      container_names.push_back("c" + std::to_string(r.Below(1000)));
    for (int i = 0; i < 30; ++i) pod_names.push_back("pod-" + std::to_string(r.Below(100000)));
    const char* namespaces[] = {"default", "kube-system", "z"};
    testing_support::KubeletPayloadBuilder builder;
    for (int pod = 0; pod < 30; ++pod) {
      builder.AddPod(namespaces[r.Below(3)], pod_names[pod]);
      for (int c = 0; c < 2; ++c) {
        builder.AddContainer(container_names[r.Below(names)],
                             1.5 * static_cast<double>(r.Below(1000)),
                             1e6 * static_cast<double>(r.Below(500)), 1.7e9);
      }
    }
    builder.SetNode(1234.5, 2e9);
    std::string payload;
    builder.AppendTo(1'700'000'000'000, &payload);
    EXPECT_TRUE(ExpectSameAsReference(payload, &got, &want)) << names;
  }
}

TEST(ResourceMetricsDifferential, MutatedCorpusAndPayloads) {
  std::vector<std::string> bases = CorpusSeeds();
  bases.push_back(testing_support::KubeletPayload(3, 2, 1'700'000'000'000));
  bases.push_back(testing_support::KubeletPayload(12, 3, 1'700'000'000'000, 9));
  ResourceMetrics got, want;
  Random r(42);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string text = bases[r.Below(bases.size())];
    for (size_t edits = 1 + r.Below(4); edits > 0; --edits) Mutate(r, &text);
    bool ok = ExpectSameAsReference(text, &got, &want);
    (ok ? parsed : rejected) += 1;
    if (::testing::Test::HasFailure()) break;  // one input is enough to debug
  }
  // Both outcomes are exercised in quantity.
  EXPECT_GT(parsed, 3000);
  EXPECT_GT(rejected, 3000);
}

TEST(ResourceMetricsDifferential, LabelForms) {
  const char* label_sets[] = {
      "",
      "{}",
      "{,}",
      "{container=\"c\",namespace=\"n\",pod=\"p\"}",
      "{pod=\"p\",container=\"c\",namespace=\"n\",}",
      "{container=\"c\",namespace=\"n\",pod=\"p\",container=\"d\"}",
      "{container=\"c\",namespace=\"n\",namespace=\"n\",pod=\"p\"}",
      "{container=\"c\",namespace=\"n\",pod=\"p\",pod=\"q\"}",
      "{a=\"1\",container=\"c\",namespace=\"n\",pod=\"p\",a=\"2\"}",
      "{a=\"1\",b=\"1\",container=\"c\",namespace=\"n\",pod=\"p\"}",
      "{containers=\"x\",container=\"c\",namespace=\"n\",pod=\"p\",pods=\"y\"}",
      "{container=\"\",namespace=\"n\",pod=\"p\"}",
      "{container=\"c\",namespace=\"n\"}",
      "{ container = \"c\" , namespace=\"n\",\tpod=\"p\" }",
      "{container=\"c\\\"q\",namespace=\"n\\\\\",pod=\"p\\n\"}",
      "{container=\"c\",namespace=\"n\",pod=\"p\",,}",
      "{container=\"c\"q\",namespace=\"n\",pod=\"p\"}",
      "{container=\"c\",namespace=\"n\",pod=\"p\"",
      "{container=\"c\",namespace=\"n\",pod=\"p}",
      "{container=\"c\" namespace=\"n\",pod=\"p\"}",
      "{container=c,namespace=\"n\",pod=\"p\"}",
      "{1a=\"1\",container=\"c\",namespace=\"n\",pod=\"p\"}",
      "{a:b=\"1\",container=\"c\",namespace=\"n\",pod=\"p\"}",
      "{_=\"1\",container=\"c\",namespace=\"n\",pod=\"p\"}",
      "{container=\"c\",namespace=\"n\",pod=\"p\"}x",
      " {container=\"c\",namespace=\"n\",pod=\"p\"}",
  };
  ResourceMetrics got, want;
  for (const char* labels : label_sets) {
    for (const char* family :
         {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
          "container_start_time_seconds", "pod_cpu_usage_seconds_total", "scrape_error",
          "node_cpu_usage_seconds_total"}) {
      for (const char* rest : {" 1 1000\n", " 2\n", "\t3 1000\n", "  4  1000 \n", " 5 1000"}) {
        std::string line = std::string(family) + labels + rest;
        ExpectSameAsReference(line, &got, &want);
        // The same line after one of its own family, and twice over.
        ExpectSameAsReference(std::string(family) + " 0\n" + line, &got, &want);
        ExpectSameAsReference(line + line, &got, &want);
        // After a family that listed a container, plain or with escapes: the fast path first
        // compares the labels with that container's (the one expected next).
        for (const char* first : {"{container=\"c\",namespace=\"n\",pod=\"p\"}",
                                  "{container=\"c\\\"q\",namespace=\"n\\\\\",pod=\"p\\n\"}",
                                  "{container=\"c\\\"q\",namespace=\"n\",pod=\"p\"}",
                                  "{container=\"c\",namespace=\"n\",pod=\"pp\"}"}) {
          ExpectSameAsReference(
              std::string("container_swap_usage_bytes") + first + " 7 1000\n" + line, &got, &want);
        }
      }
    }
  }
}

TEST(ResourceMetricsDifferential, ValueAndTimestampForms) {
  const char* values[] = {"0",
                          "1",
                          "10",
                          "4.710169",
                          "1.253376e+07",
                          "1.6243962483020916e+09",
                          "0.000001",
                          "1e-05",
                          "123456789012345678",
                          "1234567890123456789",
                          "12345678901234567890",
                          "9007199254740992",
                          "9007199254740993",
                          "0.30000000000000004",
                          "1e22",
                          "1e23",
                          "1e-22",
                          "1e-23",
                          "00.100",
                          "-1",
                          "+1",
                          "-0",
                          "NaN",
                          "+Inf",
                          "-Inf",
                          "0x1.8p1",
                          "1.",
                          ".1",
                          "1e0",
                          "1E+2",
                          "1e-0",
                          "1e0001",
                          "2.5e-3",
                          "1.8e10",
                          "1e2147483648",
                          "1e-4294967297",
                          "1e99999999999999999999",
                          "0e1001"};
  const char* timestamps[] = {"",
                              " 1000",
                              " 0",
                              " -5",
                              " +7",
                              " 1633253812125",
                              " 999999999999999999",
                              " 9223372036854775807",
                              " 9223372036854775808",
                              " 12345678901234567890"};
  ResourceMetrics got, want;
  for (const char* value : values) {
    for (const char* ts : timestamps) {
      for (const char* family :
           {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
            "container_start_time_seconds", "pod_cpu_usage_seconds_total"}) {
        std::string text = std::string(family) + "{container=\"c\",namespace=\"n\",pod=\"p\"} " +
                           value + ts + "\nnode_cpu_usage_seconds_total " + value + ts + "\n" +
                           "node_memory_working_set_bytes " + value + ts;
        ExpectSameAsReference(text, &got, &want);
      }
    }
  }
}

}  // namespace
}  // namespace scraper
