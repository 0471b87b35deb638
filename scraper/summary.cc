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
  kNamespace,
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

// The object a key opens inside `parent`, or kSkip.
Loc ObjectChild(Loc parent, Key key) {
  switch (parent) {
    case Loc::kRoot:
      return key == Key::kNode ? Loc::kNode : Loc::kSkip;
    case Loc::kNode:
      return key == Key::kFs ? Loc::kNodeFs : Loc::kSkip;
    case Loc::kPod:
      return key == Key::kPodRef ? Loc::kPodRef : Loc::kSkip;
    case Loc::kContainer:
      return key == Key::kRootfs ? Loc::kRootfs : key == Key::kLogs ? Loc::kLogs : Loc::kSkip;
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
        return true;
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number(key == Key::kUsedBytes ? where : Loc::kSkip);
    }
  }

  bool Object(Loc loc, int depth) {
    ++p_;  // '{'
    if (loc == Loc::kPod) {
      pod_first_ = out_->containers.size();
      pod_name_.clear();
      pod_namespace_.clear();
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

  // A number (JSON grammar). At a usedBytes of `where` (kNodeFs, kRootfs, kLogs), a
  // non-negative integer that fits 64 bits is kept; any other number there is counted in
  // `ignored`.
  bool Number(Loc where) {
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
    const bool kept = where == Loc::kNodeFs || where == Loc::kRootfs || where == Loc::kLogs;
    if (!kept) return true;
    if (negative || !integer || overflow) {
      ++out_->ignored;
      return true;
    }
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
  if (base::Status s = Parser(text, out).Run(); !s.ok()) return s;
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
