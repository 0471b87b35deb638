#include "test/testing/summary_payload.h"

#include <ctime>
#include <vector>

namespace testing_support {
namespace {

// Appends RFC 3339 seconds in UTC, as metav1.Time marshals.
void AppendTime(std::string* out, int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
  out->append(buf);
}

// Writes indented JSON objects field by field.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void Open(const char* key, char bracket = '{') {
    Key(key);
    out_->push_back(bracket);
    ++depth_;
    first_ = true;
  }
  void Close(char bracket = '}') {
    --depth_;
    out_->push_back('\n');
    Indent();
    out_->push_back(bracket);
    first_ = false;
  }
  void Num(const char* key, uint64_t v) {
    Key(key);
    out_->append(std::to_string(v));
  }
  void Str(const char* key, const std::string& v) {
    Key(key);
    out_->push_back('"');
    out_->append(v);
    out_->push_back('"');
  }
  void Time(const char* key, int64_t ms) {
    Key(key);
    AppendTime(out_, ms);
  }
  // Field statistics (FsStats).
  void Fs(const char* key, int64_t ms, uint64_t used) {
    Open(key);
    Time("time", ms);
    Num("availableBytes", 85'000'000'000 - used);
    Num("capacityBytes", 105'000'000'000);
    Num("usedBytes", used);
    Num("inodesFree", 6'000'000);
    Num("inodes", 6'553'600);
    Num("inodesUsed", used / 4096 + 1);
    Close();
  }
  void Cpu(int64_t ms, uint64_t nanocores, uint64_t total) {
    Open("cpu");
    Time("time", ms);
    Num("usageNanoCores", nanocores);
    Num("usageCoreNanoSeconds", total);
    Close();
  }
  void Memory(int64_t ms, uint64_t working_set, bool available) {
    Open("memory");
    Time("time", ms);
    if (available) Num("availableBytes", 8'000'000'000 - working_set);
    Num("usageBytes", working_set + working_set / 3);
    Num("workingSetBytes", working_set);
    Num("rssBytes", working_set / 2);
    Num("pageFaults", working_set / 1000);
    Num("majorPageFaults", 3);
    Close();
  }
  void Swap(int64_t ms, uint64_t used, bool available) {
    Open("swap");
    Time("time", ms);
    if (available) Num("swapAvailableBytes", 1'073'741'824 - used);
    Num("swapUsageBytes", used);
    Close();
  }
  void Network(int64_t ms, uint64_t rx) {
    Open("network");
    Time("time", ms);
    Str("name", "eth0");
    Num("rxBytes", rx);
    Num("rxErrors", 0);
    Num("txBytes", rx / 2);
    Num("txErrors", 0);
    Open("interfaces", '[');
    Element();
    Str("name", "eth0");
    Num("rxBytes", rx);
    Num("rxErrors", 0);
    Num("txBytes", rx / 2);
    Num("txErrors", 0);
    Close();
    Close(']');
    Close();
  }
  // Starts an object as an array element.
  void Element() {
    Separator();
    out_->push_back('{');
    ++depth_;
    first_ = true;
  }
  void Root() {
    out_->push_back('{');
    ++depth_;
    first_ = true;
  }

 private:
  void Separator() {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('\n');
    Indent();
  }
  void Key(const char* key) {
    Separator();
    out_->push_back('"');
    out_->append(key);
    out_->append("\": ");
  }
  void Indent() { out_->append(static_cast<size_t>(depth_) * 2, ' '); }

  std::string* out_;
  int depth_ = 0;
  bool first_ = true;
};

}  // namespace

uint64_t SummaryRootfsBytes(int pod, int container) {
  return 24'576 + static_cast<uint64_t>(pod) * 4096 + static_cast<uint64_t>(container) * 512;
}
uint64_t SummaryLogsBytes(int pod, int container) {
  return 8'192 + static_cast<uint64_t>(pod) * 1024 + static_cast<uint64_t>(container) * 16;
}
uint64_t SummaryNodeFsBytes() { return 21'474'836'480; }

std::string SummaryPayload(int pods, int containers, int64_t sample_ms) {
  static const char* const kNamespaces[] = {"default", "kube-system", "monitoring", "web"};
  std::vector<std::pair<std::string, std::string>> pod_names;
  for (int p = 0; p < pods; ++p) {
    pod_names.emplace_back(kNamespaces[p % 4],
                           "app-" + std::to_string(p) + "-7d9f8b6c5d-x" + std::to_string(p % 10));
  }
  std::vector<std::string> container_names;
  for (int c = 0; c < containers; ++c) {
    container_names.push_back(c == 0 ? "app" : "sidecar-" + std::to_string(c));
  }
  return SummaryPayload(pod_names, container_names, sample_ms);
}

std::string SummaryPayload(std::span<const std::pair<std::string, std::string>> pod_names,
                           std::span<const std::string> container_names, int64_t sample_ms) {
  const int pods = static_cast<int>(pod_names.size());
  const int containers = static_cast<int>(container_names.size());
  std::string out;
  out.reserve(static_cast<size_t>(pods) * (2600 + 1500 * static_cast<size_t>(containers)) + 4000);
  Writer w(&out);
  const int64_t start_ms = sample_ms - 86'400'000;
  w.Root();
  w.Open("node");
  w.Str("nodeName", "node-1");
  w.Open("systemContainers", '[');
  for (const char* name : {"kubelet", "pods", "runtime"}) {
    w.Element();
    w.Str("name", name);
    w.Time("startTime", start_ms);
    w.Cpu(sample_ms, 25'000'000, 9'000'000'000'000);
    w.Memory(sample_ms, 90'000'000, false);
    w.Swap(sample_ms, 0, false);
    w.Close();
  }
  w.Close(']');
  w.Time("startTime", start_ms);
  w.Cpu(sample_ms, 500'000'000, 99'000'000'000'000);
  w.Memory(sample_ms, 3'000'000'000, true);
  w.Network(sample_ms, 123'456'789'012);
  w.Fs("fs", sample_ms, SummaryNodeFsBytes());
  w.Open("runtime");
  w.Fs("imageFs", sample_ms, 9'000'000'000);
  w.Fs("containerFs", sample_ms, SummaryNodeFsBytes());
  w.Close();
  w.Open("rlimit");
  w.Time("time", sample_ms);
  w.Num("maxpid", 4'194'304);
  w.Num("curproc", 900);
  w.Close();
  w.Swap(sample_ms, 0, true);
  w.Close();
  w.Open("pods", '[');
  for (int p = 0; p < pods; ++p) {
    const std::string& ns = pod_names[p].first;
    const std::string& name = pod_names[p].second;
    w.Element();
    w.Open("podRef");
    w.Str("name", name);
    w.Str("namespace", ns);
    w.Str("uid", "0b5c6d7e-8f90-4a1b-9c2d-" + std::to_string(100'000'000'000 + p));
    w.Close();
    w.Time("startTime", start_ms + p * 1000);
    w.Open("containers", '[');
    uint64_t used = 0;
    for (int c = 0; c < containers; ++c) {
      w.Element();
      w.Str("name", container_names[c]);
      w.Time("startTime", start_ms + p * 1000 + c);
      w.Cpu(sample_ms, 1'000'000 + p * 1000 + c, 50'000'000'000 + p);
      w.Memory(sample_ms, 60'000'000 + p * 1000 + c, false);
      w.Fs("rootfs", sample_ms, SummaryRootfsBytes(p, c));
      w.Fs("logs", sample_ms, SummaryLogsBytes(p, c));
      w.Swap(sample_ms, 0, true);
      w.Close();
      used += SummaryRootfsBytes(p, c) + SummaryLogsBytes(p, c);
    }
    w.Close(']');
    w.Cpu(sample_ms, 2'000'000 + p, 100'000'000'000 + p);
    w.Memory(sample_ms, 120'000'000 + p, false);
    w.Network(sample_ms, 1'000'000 + p);
    w.Open("volume", '[');
    w.Element();
    w.Time("time", sample_ms);
    w.Num("availableBytes", 4'000'000'000);
    w.Num("capacityBytes", 4'000'012'288);
    w.Num("usedBytes", 12'288);
    w.Num("inodesFree", 900'000);
    w.Num("inodes", 900'009);
    w.Num("inodesUsed", 9);
    w.Str("name", "kube-api-access-" + std::to_string(10000 + p));
    w.Close();
    w.Close(']');
    w.Fs("ephemeral-storage", sample_ms, used + 12'288);
    w.Open("process_stats");
    w.Num("process_count", 3);
    w.Close();
    w.Swap(sample_ms, 0, false);
    w.Close();
  }
  w.Close(']');
  w.Close();
  out.push_back('\n');
  return out;
}

}  // namespace testing_support
