#include "apiserver/request.h"

#include <strings.h>
#include <algorithm>
#include <cctype>

namespace apiserver {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

PeerCertificates::PeerCertificates(X509* leaf, STACK_OF(X509) * chain)
    : leaf_(leaf), intermediates_(sk_X509_new_null()) {
  if (leaf_ != nullptr) X509_up_ref(leaf_);
  if (chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      if (leaf_ != nullptr && X509_cmp(c, leaf_) == 0) continue;
      X509_up_ref(c);
      sk_X509_push(intermediates_, c);
    }
  }
}

PeerCertificates::~PeerCertificates() {
  if (leaf_ != nullptr) X509_free(leaf_);
  sk_X509_pop_free(intermediates_, X509_free);
  for (Memo& m : memo_) X509_STORE_free(m.store);
}

base::Status PeerCertificates::VerifiedAgainst(X509_STORE* store,
                                               const std::function<base::Status()>& verify,
                                               std::chrono::steady_clock::time_point now) const {
  base::MutexLock lock(memo_mu_);
  Memo* slot = nullptr;
  for (Memo& m : memo_) {
    if (m.store == store) slot = &m;
  }
  if (slot != nullptr && now >= slot->at && now - slot->at < kVerificationMemo) {
    return slot->outcome;
  }
  if (slot == nullptr) {
    slot = &memo_[memo_next_];
    memo_next_ = (memo_next_ + 1) % memo_.size();
    X509_STORE_free(slot->store);
    slot->store = nullptr;
    if (store != nullptr && X509_STORE_up_ref(store) == 1) slot->store = store;
  }
  base::Status outcome = verify();
  if (slot->store != nullptr) {
    slot->at = now;
    slot->outcome = outcome;
  }
  return outcome;
}

std::string_view HttpRequest::Path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::RawQuery() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Query::Query(std::string_view raw) {
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto k = PercentDecode(key, true);
    auto v = PercentDecode(value, true);
    if (!k || !v) continue;
    values_.emplace_back(std::move(*k), std::move(*v));
  }
}

std::optional<std::string> Query::Get(std::string_view key) const {
  for (const auto& [k, v] : values_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

bool QueryBool(const std::optional<std::string>& value) {
  if (!value) return false;
  return !(*value == "0" || IEquals(*value, "false"));
}

std::optional<Negotiated> Negotiate(std::string_view accept, bool allow_protobuf,
                                    bool allow_table) {
  struct Candidate {
    double q;
    size_t order;
    Negotiated result;
  };
  std::vector<Candidate> candidates;
  accept = Trim(accept);
  if (accept.empty()) return Negotiated{};
  size_t order = 0;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view entry = Trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    if (entry.empty()) continue;
    size_t semi = entry.find(';');
    std::string_view type = Trim(entry.substr(0, semi));
    std::string_view params =
        semi == std::string_view::npos ? std::string_view() : entry.substr(semi + 1);
    double q = 1.0;
    std::string as, g, v;
    bool other_param = false;
    while (!params.empty()) {
      size_t s = params.find(';');
      std::string_view p = Trim(params.substr(0, s));
      params = s == std::string_view::npos ? std::string_view() : params.substr(s + 1);
      size_t eq = p.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = Trim(p.substr(0, eq));
      std::string_view val = Trim(p.substr(eq + 1));
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
        val = val.substr(1, val.size() - 2);
      if (IEquals(key, "q")) {
        q = std::strtod(std::string(val).c_str(), nullptr);
      } else if (IEquals(key, "as")) {
        as = val;
      } else if (IEquals(key, "g")) {
        g = val;
      } else if (IEquals(key, "v")) {
        v = val;
      } else if (!IEquals(key, "charset") && !IEquals(key, "stream")) {
        other_param = true;
      }
    }
    (void)other_param;
    if (q <= 0) continue;
    std::optional<Negotiated> match;
    bool json_like =
        IEquals(type, "application/json") || IEquals(type, "*/*") || IEquals(type, "application/*");
    if (as.empty()) {
      if (json_like) {
        match = Negotiated{Format::kJson, {}};
      } else if (allow_protobuf && IEquals(type, kProtobufContentType)) {
        match = Negotiated{Format::kProtobuf, {}};
      }
    } else if (allow_table && as == "Table" && g == "meta.k8s.io" &&
               (v == "v1" || v == "v1beta1") &&
               (IEquals(type, "application/json") || IEquals(type, "*/*"))) {
      match = Negotiated{Format::kTable, v};
    }
    if (match) candidates.push_back({q, order, *match});
    ++order;
  }
  if (candidates.empty()) return std::nullopt;
  auto best = std::min_element(candidates.begin(), candidates.end(),
                               [](const Candidate& a, const Candidate& b) {
                                 return a.q != b.q ? a.q > b.q : a.order < b.order;
                               });
  return best->result;
}

RequestInfo ParseRequestInfo(std::string_view method, std::string_view path, const Query& query) {
  RequestInfo info;
  info.path = std::string(path);
  std::string lower(method);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  info.verb = lower;

  std::vector<std::string_view> parts;
  std::string_view p = path;
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  while (!p.empty()) {
    size_t slash = p.find('/');
    parts.push_back(p.substr(0, slash));
    p = slash == std::string_view::npos ? std::string_view() : p.substr(slash + 1);
  }
  if (parts.empty() || (parts[0] != "apis" && parts[0] != "api")) return info;
  size_t i = 1;
  if (parts[0] == "apis") {
    if (parts.size() < 4) return info;  // /apis, /apis/<g>, /apis/<g>/<v>: discovery
    info.api_group = std::string(parts[1]);
    info.api_version = std::string(parts[2]);
    i = 3;
  } else {
    if (parts.size() < 3) return info;
    info.api_version = std::string(parts[1]);
    i = 2;
  }
  info.is_resource = true;
  std::vector<std::string_view> rest(parts.begin() + static_cast<long>(i), parts.end());
  if (method == "GET" || method == "HEAD") {
    info.verb = "get";
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = "delete";
  }
  bool watch_prefix = false;
  if (!rest.empty() && rest[0] == "watch") {
    watch_prefix = true;
    rest.erase(rest.begin());
    if (info.verb == "get") info.verb = "watch";
  }
  if (!rest.empty() && rest[0] == "namespaces") {
    if (rest.size() > 1) {
      info.namespace_ = std::string(rest[1]);
      if (rest.size() > 2) rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  info.parts = rest.size();
  if (rest.size() >= 3) info.subresource = std::string(rest[2]);
  if (rest.size() >= 2) info.name = std::string(rest[1]);
  if (!rest.empty()) info.resource = std::string(rest[0]);
  if (info.name.empty() && info.verb == "get") {
    info.verb = QueryBool(query.Get("watch")) ? "watch" : "list";
  }
  if (info.name.empty() && info.verb == "delete") info.verb = "deletecollection";
  info.watch_prefix = watch_prefix;
  return info;
}

}  // namespace apiserver
