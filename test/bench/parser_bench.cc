// Parser throughput on a realistic kubelet payload, the production parser beside the reference
// (the parser before its fast path, test/scraper/reference_resource_metrics.h), and the decoder
// of the same payload in the delimited protobuf exposition (what kubelets answer when asked).
// Prints MB/s per core (of the text and, for protobuf, of the bytes decoded), µs per payload,
// ns per line and per sample for each; not a test.
//   build/test/bench/parser_bench [pods] [containers-per-pod] [seconds] [current]
//   build/test/bench/parser_bench <file> - [seconds] [current]
// With "current", only the production parser runs (for a profiler). A first argument that is
// not a number is a file holding the payload (a body saved from a real kubelet, a seed).
// The two run in alternating slices of up to 50 ms and each is charged the CPU time of this
// thread only, so that a busy machine slows both alike and the ratio stays meaningful.
// Then, for a generated payload, the /stats/summary parser on the same pods (what
// --kubelet-summary-api adds per node per tick).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "scraper/resource_metrics.h"
#include "scraper/summary.h"
#include "test/scraper/reference_resource_metrics.h"
#include "test/testing/exposition_protobuf.h"
#include "test/testing/kubelet_payload.h"
#include "test/testing/summary_payload.h"

namespace {

using ParseFunction = base::Status (*)(std::string_view, base::UnixNanos,
                                       scraper::ResourceMetrics*);

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Totals {
  const char* name;
  ParseFunction parse;
  const std::string* payload;        // what `parse` reads
  scraper::ResourceMetrics metrics;  // reused across calls, as the scraper does
  double cpu = 0;
  long iterations = 0;
};

// Parses until about `seconds` of this thread's CPU have passed; false on a parse failure.
bool RunSlice(double seconds, Totals* t) {
  double start = ThreadCpuSeconds();
  double now = start;
  while (now - start < seconds) {
    for (int i = 0; i < 16; ++i) {
      if (!t->parse(*t->payload, 1, &t->metrics).ok()) return false;
    }
    t->iterations += 16;
    now = ThreadCpuSeconds();
  }
  t->cpu += now - start;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool from_file = argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9');
  int pods = argc > 1 && !from_file ? std::atoi(argv[1]) : 100;
  int containers = argc > 2 && !from_file ? std::atoi(argv[2]) : 2;
  double seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
  bool current_only = argc > 4 && std::string_view(argv[4]) == "current";
  std::string payload;
  if (from_file) {
    std::ifstream in(argv[1], std::ios::binary);
    payload.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "cannot read %s\n", argv[1]);
      return 1;
    }
  } else {
    payload = testing_support::KubeletPayload(pods, containers, 1'700'000'000'000);
  }
  size_t lines = 0, samples = 0;
  for (size_t i = 0; i < payload.size(); ++i) {
    if (payload[i] == '\n') ++lines;
    if ((i == 0 || payload[i - 1] == '\n') && payload[i] != '#' && payload[i] != '\n') ++samples;
  }
  std::string protobuf;
  if (!testing_support::AppendAsDelimitedProtobuf(payload, &protobuf)) protobuf.clear();

  Totals totals[] = {{"reference (before)", &scraper_reference::ParseResourceMetrics, &payload, {}},
                     {"current", &scraper::ParseResourceMetrics, &payload, {}},
                     {"protobuf", &scraper::ParseResourceMetricsProtobuf, &protobuf, {}}};
  // Warm-up, and a correctness check so the benchmark measures a successful parse.
  for (Totals& t : totals) {
    if (t.payload->empty()) continue;  // a file the protobuf writer does not read
    base::Status s = t.parse(*t.payload, 1, &t.metrics);
    if (!s.ok() ||
        (!from_file && t.metrics.containers.size() != static_cast<size_t>(pods * containers))) {
      std::fprintf(stderr, "%s: parse failed: %s\n", t.name, s.message().c_str());
      return 1;
    }
  }
  auto wall_start = std::chrono::steady_clock::now();
  const double slice = std::min(0.05, seconds / 2);
  for (double spent = 0; spent < seconds; spent += 2 * slice) {
    for (Totals& t : totals) {
      if ((current_only && &t == &totals[0]) || t.payload->empty()) continue;
      if (!RunSlice(slice, &t)) {
        std::fprintf(stderr, "%s: parse failed\n", t.name);
        return 1;
      }
    }
  }
  double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  if (from_file) {
    std::printf("payload: %s, %zu containers, %zu bytes, %zu lines; %.2f s wall\n", argv[1],
                totals[1].metrics.containers.size(), payload.size(), lines, wall);
  } else {
    std::printf("payload: %d pods x %d containers, %zu bytes, %zu lines; %.2f s wall\n", pods,
                containers, payload.size(), lines, wall);
  }
  std::printf("protobuf form: %zu bytes (%.2f of the text), %zu samples\n", protobuf.size(),
              static_cast<double>(protobuf.size()) / static_cast<double>(payload.size()), samples);
  for (const Totals& t : totals) {
    if (t.iterations == 0) continue;
    double iterations = static_cast<double>(t.iterations);
    // MB/s of the text form (the same metrics, so formats compare) and of the bytes read.
    double mb = static_cast<double>(payload.size()) * iterations / 1e6;
    double mb_read = static_cast<double>(t.payload->size()) * iterations / 1e6;
    std::printf(
        "%-18s parsed %ld times in %.2f s of CPU: %.1f MB/s per core of text (%.1f of bytes "
        "read), %.1f us per payload, %.1f ns per line, %.1f ns per sample\n",
        t.name, t.iterations, t.cpu, mb / t.cpu, mb_read / t.cpu, t.cpu * 1e6 / iterations,
        t.cpu * 1e9 / iterations / static_cast<double>(lines),
        t.cpu * 1e9 / iterations / static_cast<double>(samples));
  }
  if (!current_only) {
    std::printf("speed-up: %.2fx\n",
                (static_cast<double>(totals[1].iterations) / totals[1].cpu) /
                    (static_cast<double>(totals[0].iterations) / totals[0].cpu));
  }
  if (totals[2].iterations > 0) {
    std::printf("protobuf vs text (current): %.2fx\n",
                (static_cast<double>(totals[2].iterations) / totals[2].cpu) /
                    (static_cast<double>(totals[1].iterations) / totals[1].cpu));
  }
  if (from_file || current_only) return 0;

  // The summary parser on one node's /stats/summary for the same pods.
  std::string summary = testing_support::SummaryPayload(pods, containers, 1'700'000'000'000);
  scraper::SummaryStorage storage;
  base::Status s = scraper::ParseSummary(summary, &storage);
  if (!s.ok() || storage.containers.size() != static_cast<size_t>(pods * containers)) {
    std::fprintf(stderr, "summary parse failed: %s\n", s.message().c_str());
    return 1;
  }
  long summary_iterations = 0;
  double summary_start = ThreadCpuSeconds();
  double summary_cpu = 0;
  while (summary_cpu < seconds / 2) {
    for (int i = 0; i < 16; ++i) {
      if (!scraper::ParseSummary(summary, &storage).ok()) return 1;
    }
    summary_iterations += 16;
    summary_cpu = ThreadCpuSeconds() - summary_start;
  }
  double summary_us = summary_cpu * 1e6 / static_cast<double>(summary_iterations);
  double text_us = totals[1].cpu * 1e6 / static_cast<double>(totals[1].iterations);
  std::printf(
      "/stats/summary: %zu bytes, parsed %ld times in %.2f s of CPU: %.1f MB/s per core, %.1f us "
      "per payload\n",
      summary.size(), summary_iterations, summary_cpu,
      static_cast<double>(summary.size()) * static_cast<double>(summary_iterations) / 1e6 /
          summary_cpu,
      summary_us);
  std::printf("parse CPU per node per tick: %.1f us without the summary, %.1f us with it (x%.1f)\n",
              text_us, text_us + summary_us, (text_us + summary_us) / text_us);
  return 0;
}
