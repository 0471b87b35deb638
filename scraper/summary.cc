#include "scraper/summary.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <tuple>

namespace scraper {
namespace {

// Where the parser is: the objects and arrays that lead to a field we keep. Everything else is
// kSkip, whose contents are validated but not looked at.
enum class Loc : uint8_t {
  kRoot,             // the Summary
  kNode,             // .node
  kNodeFs,           // .node.fs
  kPods,             // .pods
  kPod,              // .pods[i]
  kPodRef,           // .pods[i].podRef
  kContainers,       // .pods[i].containers
  kContainer,        // .pods[i].containers[j]
  kRootfs,           // .pods[i].containers[j].rootfs
  kLogs,             // .pods[i].containers[j].logs
  kNodeMemory,       // .node.memory
  kNodeNetwork,      // .node.network
  kPodNetwork,       // .pods[i].network
  kContainerMemory,  // .pods[i].containers[j].memory
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
  kNamespace,
  kMemory,
  kNetwork,
  kStartTime,
  kTime,
  kCapacityBytes,
  kAvailableBytes,
  kUsageBytes,
  kRssBytes,
  kPageFaults,
  kMajorPageFaults,
  kRxBytes,
  kRxErrors,
  kTxBytes,
  kTxErrors,
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
      if (k == "time") return Key::kTime;
      break;
    case 6:
      if (k == "podRef") return Key::kPodRef;
      if (k == "rootfs") return Key::kRootfs;
      if (k == "memory") return Key::kMemory;
      break;
    case 7:
      if (k == "network") return Key::kNetwork;
      if (k == "rxBytes") return Key::kRxBytes;
      if (k == "txBytes") return Key::kTxBytes;
      break;
    case 8:
      if (k == "rssBytes") return Key::kRssBytes;
      if (k == "rxErrors") return Key::kRxErrors;
      if (k == "txErrors") return Key::kTxErrors;
      break;
    case 9:
      if (k == "usedBytes") return Key::kUsedBytes;
      if (k == "namespace") return Key::kNamespace;
      if (k == "startTime") return Key::kStartTime;
      break;
    case 10:
      if (k == "containers") return Key::kContainers;
      if (k == "usageBytes") return Key::kUsageBytes;
      if (k == "pageFaults") return Key::kPageFaults;
      break;
    case 13:
      if (k == "capacityBytes") return Key::kCapacityBytes;
      break;
    case 14:
      if (k == "availableBytes") return Key::kAvailableBytes;
      break;
    case 15:
      if (k == "majorPageFaults") return Key::kMajorPageFaults;
      break;
  }
  return Key::kOther;
}

// The object a key opens inside `parent`, or kSkip.
Loc ObjectChild(Loc parent, Key key) {
  switch (parent) {
    case Loc::kRoot:
      return key == Key::kNode ? Loc::kNode : Loc::kSkip;
    case Loc::kNode:
      return key == Key::kFs        ? Loc::kNodeFs
             : key == Key::kMemory  ? Loc::kNodeMemory
             : key == Key::kNetwork ? Loc::kNodeNetwork
                                    : Loc::kSkip;
    case Loc::kPod:
      return key == Key::kPodRef    ? Loc::kPodRef
             : key == Key::kNetwork ? Loc::kPodNetwork
                                    : Loc::kSkip;
    case Loc::kContainer:
      return key == Key::kRootfs   ? Loc::kRootfs
             : key == Key::kLogs   ? Loc::kLogs
             : key == Key::kMemory ? Loc::kContainerMemory
                                   : Loc::kSkip;
    default:
      return Loc::kSkip;
  }
}

// Bytes that end the fast scan of a string: '"', '\\' and control characters.
constexpr auto kStringStop = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

constexpr int kMaxDepth = 512;

// A strict JSON (RFC 8259) parser over the whole body that descends only into the objects on the
// way to a kept field; in every other value it only checks the syntax. Strings are not checked
// for valid UTF-8 (names are only compared with the resource metrics' names).
class Parser {
 public:
  Parser(std::string_view text, SummaryStorage* out)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), out_(out) {}

  base::Status Run() {
    SkipWs();
    if (p_ == end_) return Fail("empty body");
    if (*p_ != '{') {
      TypeError("the summary", "an object");
      return base::Status::Error(error_);
    }
    if (!Value(Loc::kRoot, Key::kOther, 0)) return base::Status::Error(error_);
    SkipWs();
    if (p_ != end_) return Fail("unexpected text after the summary");
    return base::Status::Ok();
  }

 private:
  base::Status Fail(std::string_view what) {
    SetError(what);
    return base::Status::Error(error_);
  }
  bool SetError(std::string_view what) {
    if (error_.empty()) {
      error_ = "summary: byte " + std::to_string(p_ - begin_ + 1) + ": " + std::string(what);
    }
    return false;
  }
  bool TypeError(std::string_view field, std::string_view want) {
    error_ = "summary: " + std::string(field) + " is not " + std::string(want);
    return false;
  }

  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // The value at p_ (after whitespace). `loc` is where it goes: kRoot for the body, the
  // object's Loc for a member's value (with its key), the array's Loc for an element.
  bool Value(Loc where, Key key, int depth) {
    if (p_ == end_) return SetError("unexpected end of the body");
    switch (*p_) {
      case '{': {
        if (++depth > kMaxDepth) return SetError("nested deeper than 512");
        Loc child;
        if (depth == 1) {
          child = Loc::kRoot;
        } else if (where == Loc::kPods) {
          child = Loc::kPod;
        } else if (where == Loc::kContainers) {
          child = Loc::kContainer;
        } else {
          if (where == Loc::kRoot && key == Key::kPods) return TypeError("pods", "an array");
          if (where == Loc::kPod && key == Key::kContainers) {
            return TypeError("pods[].containers", "an array");
          }
          child = ObjectChild(where, key);
        }
        return Object(child, depth);
      }
      case '[': {
        if (++depth > kMaxDepth) return SetError("nested deeper than 512");
        Loc child = Loc::kSkip;
        if (where == Loc::kRoot && key == Key::kPods) child = Loc::kPods;
        if (where == Loc::kPod && key == Key::kContainers) child = Loc::kContainers;
        if (where == Loc::kRoot && key == Key::kNode) return TypeError("node", "an object");
        if (where == Loc::kPod && key == Key::kPodRef)
          return TypeError("pods[].podRef", "an object");
        return Array(child, depth);
      }
      case '"': {
        std::string* target = nullptr;
        if (where == Loc::kPodRef && key == Key::kName) target = &pod_name_;
        if (where == Loc::kPodRef && key == Key::kNamespace) target = &pod_namespace_;
        if (where == Loc::kContainer && key == Key::kName) target = &current_.container;
        std::string_view s;
        if (!String(&s)) return false;
        if (target != nullptr) target->assign(s);
        if (key == Key::kStartTime || key == Key::kTime) KeepTime(where, key, s);
        return true;
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number(where, key);
    }
  }

  bool Object(Loc loc, int depth) {
    ++p_;  // '{'
    if (loc == Loc::kPod) {
      pod_first_ = out_->containers.size();
      pod_name_.clear();
      pod_namespace_.clear();
      pod_stats_ = window::SummaryStats();
    } else if (loc == Loc::kContainer) {
      current_ = ContainerStorage();
    }
    SkipWs();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return EndObject(loc);
    }
    for (;;) {
      SkipWs();
      if (p_ == end_) return SetError("unexpected end of the body");
      if (*p_ != '"') return SetError("expected a member name");
      std::string_view name;
      if (!String(&name)) return false;
      const Key key = loc == Loc::kSkip ? Key::kOther : KeyOf(name);
      SkipWs();
      if (p_ == end_ || *p_ != ':') return SetError("expected ':' after a member name");
      ++p_;
      SkipWs();
      if (!Value(loc, key, depth)) return false;
      SkipWs();
      if (p_ == end_) return SetError("unexpected end of the body");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return EndObject(loc);
      }
      return SetError("expected ',' or '}' in an object");
    }
  }

  bool EndObject(Loc loc) {
    if (loc == Loc::kContainer) {
      if (current_.container.empty()) {
        ++out_->ignored;
      } else {
        out_->containers.push_back(std::move(current_));
      }
    } else if (loc == Loc::kPod) {
      EndPod();
    }
    return true;
  }

  bool Array(Loc loc, int depth) {
    ++p_;  // '['
    SkipWs();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      SkipWs();
      if (!Value(loc, Key::kOther, depth)) return false;
      SkipWs();
      if (p_ == end_) return SetError("unexpected end of the body");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return SetError("expected ',' or ']' in an array");
    }
  }

  // A string at p_ ('"'). *s views the input when it has no escapes, else scratch_.
  bool String(std::string_view* s) {
    const char* start = ++p_;
    while (p_ < end_ && !kStringStop[static_cast<unsigned char>(*p_)]) ++p_;
    if (p_ < end_ && *p_ == '"') {
      *s = {start, static_cast<size_t>(p_ - start)};
      ++p_;
      return true;
    }
    scratch_.assign(start, p_);
    while (p_ < end_) {
      const char c = *p_;
      if (c == '"') {
        ++p_;
        *s = scratch_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return SetError("control character in a string");
      if (c != '\\') {
        scratch_.push_back(c);
        ++p_;
        continue;
      }
      if (++p_ == end_) break;
      switch (*p_++) {
        case '"':
          scratch_.push_back('"');
          break;
        case '\\':
          scratch_.push_back('\\');
          break;
        case '/':
          scratch_.push_back('/');
          break;
        case 'b':
          scratch_.push_back('\b');
          break;
        case 'f':
          scratch_.push_back('\f');
          break;
        case 'n':
          scratch_.push_back('\n');
          break;
        case 'r':
          scratch_.push_back('\r');
          break;
        case 't':
          scratch_.push_back('\t');
          break;
        case 'u':
          if (!Unicode()) return false;
          break;
        default:
          --p_;
          return SetError("invalid escape in a string");
      }
    }
    return SetError("unterminated string");
  }

  bool Hex4(uint32_t* out) {
    if (end_ - p_ < 4) return SetError("invalid \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return SetError("invalid \\u escape");
      }
    }
    *out = v;
    return true;
  }

  // After "\u": one code point (a surrogate pair counts as one), appended as UTF-8.
  bool Unicode() {
    uint32_t cp = 0;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return SetError("lone low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
        return SetError("high surrogate without its low surrogate");
      }
      p_ += 2;
      if (!Hex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return SetError("high surrogate without its low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp < 0x80) {
      scratch_.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      scratch_.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      scratch_.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      scratch_.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return true;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return SetError("invalid literal");
    }
    p_ += word.size();
    return true;
  }

  static bool IsDigit(char c) { return static_cast<unsigned>(c - '0') <= 9; }

  // The statistics object a Loc fills, or nullptr.
  window::SummaryStats* StatsOf(Loc where) {
    switch (where) {
      case Loc::kNode:
      case Loc::kNodeFs:
      case Loc::kNodeMemory:
      case Loc::kNodeNetwork:
        return &out_->node;
      case Loc::kPod:
      case Loc::kPodNetwork:
        return &pod_stats_;
      case Loc::kContainer:
      case Loc::kRootfs:
      case Loc::kLogs:
      case Loc::kContainerMemory:
        return &current_.stats;
      default:
        return nullptr;
    }
  }

  // A startTime of a node, pod or container, or the time of a memory or network object.
  void KeepTime(Loc where, Key key, std::string_view text) {
    window::SummaryStats* stats = StatsOf(where);
    if (stats == nullptr) return;
    base::UnixNanos* target = nullptr;
    uint16_t bit = 0;
    if (key == Key::kStartTime &&
        (where == Loc::kNode || where == Loc::kPod || where == Loc::kContainer)) {
      target = &stats->start_time;
      bit = window::SummaryStats::kStartTime;
    } else if (key == Key::kTime && (where == Loc::kNodeMemory || where == Loc::kContainerMemory)) {
      target = &stats->memory_time;
      bit = window::SummaryStats::kMemoryTime;
    } else if (key == Key::kTime && (where == Loc::kNodeNetwork || where == Loc::kPodNetwork)) {
      target = &stats->network_time;
      bit = window::SummaryStats::kNetworkTime;
    } else {
      return;
    }
    int64_t ns = 0;
    if (!ParseRfc3339(text, &ns)) {
      ++out_->ignored;
      return;
    }
    *target = ns;
    stats->has |= bit;
  }

  // Where a number at `key` of `where` is kept: a counter of SummaryStats with its bit, or a
  // filesystem value with its FsUsage bit. False when it is not kept.
  struct Slot {
    uint64_t* value = nullptr;
    uint16_t* has16 = nullptr;
    uint8_t* has8 = nullptr;
    uint16_t bit = 0;
  };
  bool SlotOf(Loc where, Key key, Slot* slot) {
    using S = window::SummaryStats;
    switch (where) {
      case Loc::kNodeFs:
      case Loc::kRootfs:
      case Loc::kLogs: {
        window::FsUsage& fs = StatsOf(where)->fs[where == Loc::kLogs ? S::kLogs : S::kRootFs];
        slot->has8 = &fs.has;
        if (key == Key::kUsedBytes) {
          slot->value = &fs.used_bytes;
          slot->bit = window::FsUsage::kUsed;
        } else if (key == Key::kCapacityBytes) {
          slot->value = &fs.capacity_bytes;
          slot->bit = window::FsUsage::kCapacity;
        } else if (key == Key::kAvailableBytes) {
          slot->value = &fs.available_bytes;
          slot->bit = window::FsUsage::kAvailable;
        } else {
          return false;
        }
        return true;
      }
      case Loc::kNodeMemory:
      case Loc::kContainerMemory: {
        S* st = StatsOf(where);
        switch (key) {
          case Key::kUsageBytes:
            *slot = {&st->memory_usage_bytes, &st->has, nullptr, S::kMemoryUsage};
            return true;
          case Key::kRssBytes:
            *slot = {&st->memory_rss_bytes, &st->has, nullptr, S::kMemoryRss};
            return true;
          case Key::kPageFaults:
            *slot = {&st->page_faults, &st->has, nullptr, S::kPageFaults};
            return true;
          case Key::kMajorPageFaults:
            *slot = {&st->major_page_faults, &st->has, nullptr, S::kMajorPageFaults};
            return true;
          default:
            return false;
        }
      }
      case Loc::kNodeNetwork:
      case Loc::kPodNetwork: {
        S* st = StatsOf(where);
        switch (key) {
          case Key::kRxBytes:
            *slot = {&st->rx_bytes, &st->has, nullptr, S::kRxBytes};
            return true;
          case Key::kRxErrors:
            *slot = {&st->rx_errors, &st->has, nullptr, S::kRxErrors};
            return true;
          case Key::kTxBytes:
            *slot = {&st->tx_bytes, &st->has, nullptr, S::kTxBytes};
            return true;
          case Key::kTxErrors:
            *slot = {&st->tx_errors, &st->has, nullptr, S::kTxErrors};
            return true;
          default:
            return false;
        }
      }
      default:
        return false;
    }
  }

  // A number (JSON grammar). At a kept field (SlotOf), a non-negative integer that fits 64 bits
  // is kept; any other number there is counted in `ignored`.
  bool Number(Loc where, Key key) {
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return SetError("invalid value");
    uint64_t value = 0;
    bool overflow = false;
    if (*p_ == '0') {
      ++p_;
    } else {
      for (; p_ < end_ && IsDigit(*p_); ++p_) {
        const unsigned d = static_cast<unsigned>(*p_ - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
        value = value * 10 + d;
      }
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return SetError("invalid number");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return SetError("invalid number");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (key == Key::kOther) return true;
    Slot slot;
    if (!SlotOf(where, key, &slot)) return true;
    if (negative || !integer || overflow) {
      ++out_->ignored;
      return true;
    }
    *slot.value = value;
    if (slot.has8 != nullptr) {
      *slot.has8 |= static_cast<uint8_t>(slot.bit);
    } else {
      *slot.has16 |= slot.bit;
    }
    if (key != Key::kUsedBytes) return true;
    if (where == Loc::kNodeFs) {
      out_->has_node_fs = true;
      out_->node_fs_used_bytes = value;
    } else if (where == Loc::kRootfs) {
      current_.has_rootfs = true;
      current_.rootfs_bytes = value;
    } else {
      current_.has_logs = true;
      current_.logs_bytes = value;
    }
    return true;
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
    out_->pods.push_back({pod_namespace_, pod_name_, pod_stats_});
    for (size_t i = pod_first_; i < containers.size(); ++i) {
      containers[i].namespace_ = pod_namespace_;
      containers[i].pod = pod_name_;
    }
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  SummaryStorage* out_;
  std::string error_;
  std::string scratch_;  // a string with escapes, decoded
  ContainerStorage current_;
  size_t pod_first_ = 0;
  std::string pod_name_;
  std::string pod_namespace_;
  window::SummaryStats pod_stats_;
};

bool Less(const ContainerStorage& a, const ContainerStorage& b) {
  return std::tie(a.namespace_, a.pod, a.container) < std::tie(b.namespace_, b.pod, b.container);
}

bool PodLess(const PodStorage& a, const PodStorage& b) {
  return std::tie(a.namespace_, a.pod) < std::tie(b.namespace_, b.pod);
}

// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// `n` digits at text[*i], advancing *i; false when they are not all digits.
bool Digits(std::string_view text, size_t* i, size_t n, unsigned* out) {
  if (text.size() < *i + n) return false;
  unsigned v = 0;
  for (size_t k = 0; k < n; ++k) {
    const char c = text[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* i, char c) {
  if (*i >= text.size() || text[*i] != c) return false;
  ++*i;
  return true;
}

}  // namespace

uint64_t ContainerStorage::ephemeral_storage_bytes() const {
  const uint64_t rootfs = has_rootfs ? rootfs_bytes : 0;
  const uint64_t logs = has_logs ? logs_bytes : 0;
  return rootfs > std::numeric_limits<uint64_t>::max() - logs ? std::numeric_limits<uint64_t>::max()
                                                              : rootfs + logs;
}

bool ParseRfc3339(std::string_view text, int64_t* unix_nanos) {
  size_t i = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, &i, 4, &year) || !Expect(text, &i, '-') || !Digits(text, &i, 2, &month) ||
      !Expect(text, &i, '-') || !Digits(text, &i, 2, &day)) {
    return false;
  }
  if (i >= text.size() || (text[i] != 'T' && text[i] != 't')) return false;
  ++i;
  if (!Digits(text, &i, 2, &hour) || !Expect(text, &i, ':') || !Digits(text, &i, 2, &minute) ||
      !Expect(text, &i, ':') || !Digits(text, &i, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  int64_t nanos = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    int64_t scale = 100'000'000;
    const size_t first = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      nanos += (text[i] - '0') * scale;  // digits past nanoseconds are dropped
      scale /= 10;
    }
    if (i == first) return false;
  }
  int64_t offset_seconds = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    const bool minus = text[i++] == '-';
    unsigned oh = 0, om = 0;
    if (!Digits(text, &i, 2, &oh) || !Expect(text, &i, ':') || !Digits(text, &i, 2, &om) ||
        oh > 23 || om > 59) {
      return false;
    }
    offset_seconds = (minus ? -1 : 1) * static_cast<int64_t>(oh * 3600 + om * 60);
  } else {
    return false;
  }
  if (i != text.size()) return false;
  const int64_t days = DaysFromCivil(year, month, day);
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  // Nanoseconds since the epoch fit in int64 for years 1678 to 2261 only: a time outside is not
  // a kubelet's and is rejected rather than overflowed.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1;
  if (seconds > kMaxSeconds || seconds < -kMaxSeconds) return false;
  *unix_nanos = seconds * 1'000'000'000 + nanos;
  return true;
}

void SummaryStorage::Clear() {
  has_node_fs = false;
  node_fs_used_bytes = 0;
  node = window::SummaryStats();
  pods.clear();
  containers.clear();
  ignored = 0;
}

const PodStorage* SummaryStorage::FindPod(std::string_view namespace_, std::string_view pod) const {
  using Key = std::tuple<std::string_view, std::string_view>;
  const Key key(namespace_, pod);
  auto it = std::lower_bound(pods.begin(), pods.end(), key, [](const PodStorage& p, const Key& k) {
    return Key(p.namespace_, p.pod) < k;
  });
  return it != pods.end() && Key(it->namespace_, it->pod) == key ? &*it : nullptr;
}

const ContainerStorage* SummaryStorage::FindContainer(std::string_view namespace_,
                                                      std::string_view pod,
                                                      std::string_view container) const {
  using Key = std::tuple<std::string_view, std::string_view, std::string_view>;
  const Key key(namespace_, pod, container);
  auto it = std::lower_bound(containers.begin(), containers.end(), key,
                             [](const ContainerStorage& c, const Key& k) {
                               return Key(c.namespace_, c.pod, c.container) < k;
                             });
  return it != containers.end() && Key(it->namespace_, it->pod, it->container) == key ? &*it
                                                                                      : nullptr;
}

base::Status ParseSummary(std::string_view text, SummaryStorage* out) {
  out->Clear();
  if (base::Status s = Parser(text, out).Run(); !s.ok()) return s;
  auto& containers = out->containers;
  if (!std::is_sorted(containers.begin(), containers.end(), Less)) {
    std::stable_sort(containers.begin(), containers.end(), Less);
  }
  auto same = [](const ContainerStorage& a, const ContainerStorage& b) {
    return a.container == b.container && a.pod == b.pod && a.namespace_ == b.namespace_;
  };
  containers.erase(std::unique(containers.begin(), containers.end(), same), containers.end());
  auto& pods = out->pods;
  if (!std::is_sorted(pods.begin(), pods.end(), PodLess)) {
    std::stable_sort(pods.begin(), pods.end(), PodLess);
  }
  pods.erase(std::unique(pods.begin(), pods.end(),
                         [](const PodStorage& a, const PodStorage& b) {
                           return a.pod == b.pod && a.namespace_ == b.namespace_;
                         }),
             pods.end());
  return base::Status::Ok();
}

}  // namespace scraper
