#include "scraper/summary.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

namespace scraper {
namespace {

using json = nlohmann::json;

// Where the parser is: the objects and arrays that lead to a field we keep. Everything else is
// kSkip, whose contents are not looked at.
enum class Loc : uint8_t {
  kRoot,        // the Summary
  kNode,        // .node
  kNodeFs,      // .node.fs
  kPods,        // .pods
  kPod,         // .pods[i]
  kPodRef,      // .pods[i].podRef
  kContainers,  // .pods[i].containers
  kContainer,   // .pods[i].containers[j]
  kRootfs,      // .pods[i].containers[j].rootfs
  kLogs,        // .pods[i].containers[j].logs
  kSkip,
};

// The keys the parser acts on; the rest are kOther.
enum class Key : uint8_t {
  kOther,
  kNode,
  kFs,
  kPods,
  kPodRef,
  kContainers,
  kRootfs,
  kLogs,
  kUsedBytes,
  kName,
  kNamespace
};

Key KeyOf(std::string_view k) {
  switch (k.size()) {
    case 2:
      if (k == "fs") return Key::kFs;
      break;
    case 4:
      if (k == "node") return Key::kNode;
      if (k == "pods") return Key::kPods;
      if (k == "logs") return Key::kLogs;
      if (k == "name") return Key::kName;
      break;
    case 6:
      if (k == "podRef") return Key::kPodRef;
      if (k == "rootfs") return Key::kRootfs;
      break;
    case 9:
      if (k == "usedBytes") return Key::kUsedBytes;
      if (k == "namespace") return Key::kNamespace;
      break;
    case 10:
      if (k == "containers") return Key::kContainers;
      break;
  }
  return Key::kOther;
}

class Handler final : public nlohmann::json_sax<json> {
 public:
  explicit Handler(SummaryStorage* out) : out_(out) { stack_.reserve(16); }

  const std::string& error() const { return error_; }

  bool null() override { return Scalar(); }
  bool boolean(bool) override { return Scalar(); }
  bool number_integer(number_integer_t v) override {
    if (v >= 0) return Bytes(static_cast<uint64_t>(v));
    return BadBytes();
  }
  bool number_unsigned(number_unsigned_t v) override { return Bytes(v); }
  bool number_float(number_float_t, const string_t&) override { return BadBytes(); }
  bool binary(binary_t&) override { return Scalar(); }

  bool string(string_t& s) override {
    if (!Scalar()) return false;
    if (stack_.empty()) return true;
    switch (stack_.back()) {
      case Loc::kPodRef:
        if (key_ == Key::kName) pod_name_ = s;
        if (key_ == Key::kNamespace) pod_namespace_ = s;
        break;
      case Loc::kContainer:
        if (key_ == Key::kName) current_.container = s;
        break;
      default:
        break;
    }
    return true;
  }

  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      stack_.push_back(Loc::kRoot);
      return true;
    }
    Loc child = Loc::kSkip;
    switch (stack_.back()) {
      case Loc::kRoot:
        if (key_ == Key::kNode) child = Loc::kNode;
        if (key_ == Key::kPods) return TypeError("pods", "an array");
        break;
      case Loc::kNode:
        if (key_ == Key::kFs) child = Loc::kNodeFs;
        break;
      case Loc::kPods:
        child = Loc::kPod;
        pod_first_ = out_->containers.size();
        pod_name_.clear();
        pod_namespace_.clear();
        break;
      case Loc::kPod:
        if (key_ == Key::kPodRef) child = Loc::kPodRef;
        if (key_ == Key::kContainers) return TypeError("pods[].containers", "an array");
        break;
      case Loc::kContainers:
        child = Loc::kContainer;
        current_ = ContainerStorage();
        break;
      case Loc::kContainer:
        if (key_ == Key::kRootfs) child = Loc::kRootfs;
        if (key_ == Key::kLogs) child = Loc::kLogs;
        break;
      default:
        break;
    }
    stack_.push_back(child);
    return true;
  }

  bool end_object() override {
    switch (stack_.back()) {
      case Loc::kContainer:
        if (current_.container.empty()) {
          ++out_->ignored;
        } else {
          out_->containers.push_back(std::move(current_));
        }
        break;
      case Loc::kPod:
        EndPod();
        break;
      default:
        break;
    }
    stack_.pop_back();
    return true;
  }

  bool start_array(std::size_t) override {
    if (stack_.empty()) return TypeError("the summary", "an object");
    Loc child = Loc::kSkip;
    switch (stack_.back()) {
      case Loc::kRoot:
        if (key_ == Key::kPods) child = Loc::kPods;
        if (key_ == Key::kNode) return TypeError("node", "an object");
        break;
      case Loc::kPod:
        if (key_ == Key::kContainers) child = Loc::kContainers;
        if (key_ == Key::kPodRef) return TypeError("pods[].podRef", "an object");
        break;
      default:
        break;
    }
    stack_.push_back(child);
    return true;
  }

  bool end_array() override {
    stack_.pop_back();
    return true;
  }

  bool key(string_t& k) override {
    // Keys matter only in the objects on the way to a kept field.
    if (stack_.back() != Loc::kSkip) key_ = KeyOf(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> after the prefix.
    std::string_view what = ex.what();
    if (auto p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
    error_ = "summary: byte " + std::to_string(position) + ": " + std::string(what);
    return false;
  }

 private:
  // A string, bool, null or binary value: the top level must not be one.
  bool Scalar() {
    if (stack_.empty()) return TypeError("the summary", "an object");
    return true;
  }

  bool Bytes(uint64_t v) {
    if (!Scalar()) return false;
    if (key_ != Key::kUsedBytes) return true;
    switch (stack_.back()) {
      case Loc::kNodeFs:
        out_->has_node_fs = true;
        out_->node_fs_used_bytes = v;
        break;
      case Loc::kRootfs:
        current_.has_rootfs = true;
        current_.rootfs_bytes = v;
        break;
      case Loc::kLogs:
        current_.has_logs = true;
        current_.logs_bytes = v;
        break;
      default:
        break;
    }
    return true;
  }

  // A negative or fractional number: dropped (and counted) where a usedBytes was expected.
  bool BadBytes() {
    if (!Scalar()) return false;
    if (key_ == Key::kUsedBytes) {
      Loc at = stack_.back();
      if (at == Loc::kNodeFs || at == Loc::kRootfs || at == Loc::kLogs) ++out_->ignored;
    }
    return true;
  }

  bool TypeError(std::string_view field, std::string_view want) {
    error_ = "summary: " + std::string(field) + " is not " + std::string(want);
    return false;
  }

  // The pod's containers were appended since pod_first_: give them the pod's reference, or drop
  // them when it has none.
  void EndPod() {
    auto& containers = out_->containers;
    if (pod_name_.empty() || pod_namespace_.empty()) {
      out_->ignored += static_cast<int>(containers.size() - pod_first_);
      containers.resize(pod_first_);
      return;
    }
    for (size_t i = pod_first_; i < containers.size(); ++i) {
      containers[i].namespace_ = pod_namespace_;
      containers[i].pod = pod_name_;
    }
  }

  SummaryStorage* out_;
  std::vector<Loc> stack_;
  Key key_ = Key::kOther;
  ContainerStorage current_;
  size_t pod_first_ = 0;
  std::string pod_name_;
  std::string pod_namespace_;
  std::string error_;
};

bool Less(const ContainerStorage& a, const ContainerStorage& b) {
  return std::tie(a.namespace_, a.pod, a.container) < std::tie(b.namespace_, b.pod, b.container);
}

}  // namespace

uint64_t ContainerStorage::ephemeral_storage_bytes() const {
  const uint64_t rootfs = has_rootfs ? rootfs_bytes : 0;
  const uint64_t logs = has_logs ? logs_bytes : 0;
  return rootfs > std::numeric_limits<uint64_t>::max() - logs ? std::numeric_limits<uint64_t>::max()
                                                              : rootfs + logs;
}

void SummaryStorage::Clear() {
  has_node_fs = false;
  node_fs_used_bytes = 0;
  containers.clear();
  ignored = 0;
}

base::Status ParseSummary(std::string_view text, SummaryStorage* out) {
  out->Clear();
  Handler handler(out);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &handler);
  } catch (const std::exception& e) {  // sax_parse reports through the handler; be safe anyway
    return base::Status::Error(std::string("summary: ") + e.what());
  }
  if (!ok) {
    return base::Status::Error(handler.error().empty() ? "summary: malformed JSON"
                                                       : handler.error());
  }
  auto& containers = out->containers;
  if (!std::is_sorted(containers.begin(), containers.end(), Less)) {
    std::stable_sort(containers.begin(), containers.end(), Less);
  }
  auto same = [](const ContainerStorage& a, const ContainerStorage& b) {
    return a.container == b.container && a.pod == b.pod && a.namespace_ == b.namespace_;
  };
  containers.erase(std::unique(containers.begin(), containers.end(), same), containers.end());
  return base::Status::Ok();
}

}  // namespace scraper
