// The list+watch loop shared by the informers and the authentication ConfigMap watcher
// (internal to the kube library; see informer.h for the behaviour).
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kube/backoff.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/decode.h"
#include "kube/informer.h"

namespace kube::internal {

// What to list and watch. Traits<T> supplies the decoders and the cache operations.
struct ResourceSpec {
  std::string name;         // for logs: "nodes", "pods"
  std::string path;         // collection path, e.g. "/api/v1/pods"
  std::string list_accept;  // Accept header for lists
  std::string watch_accept;
  std::string field_selector;  // server-side; "" = none
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
inline std::string QueryEscape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

inline constexpr std::size_t kMaxErrorBody = 64 * 1024;

template <typename T>
struct Traits;  // specialized per object kind

template <>
struct Traits<Node> {
  using Cache = NodeCache;
  static ResourceSpec Spec() {
    return {"nodes", "/api/v1/nodes", "application/json", "application/json", ""};
  }
  static base::Result<ListPage<Node>> DecodeList(std::string_view s) { return DecodeNodeList(s); }
  static base::Result<WatchEvent<Node>> DecodeEvent(std::string_view s) {
    return DecodeNodeWatchEvent(s);
  }
  static void Remove(NodeCache& cache, const Node& n) { cache.Remove(n.name); }
};

template <>
struct Traits<Pod> {
  using Cache = PodCache;
  // Metadata only; plain JSON (full pods, also decodable) as the server's fallback.
  static ResourceSpec Spec() {
    return {"pods", "/api/v1/pods",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
            "status.phase=Running"};
  }
  static base::Result<ListPage<Pod>> DecodeList(std::string_view s) {
    return DecodePodMetadataList(s);
  }
  static base::Result<WatchEvent<Pod>> DecodeEvent(std::string_view s) {
    return DecodePodWatchEvent(s);
  }
  static void Remove(PodCache& cache, const Pod& p) { cache.Remove(p.namespace_, p.name); }
};

// The list+watch loop for one resource. Exactly one step (a list page, a watch, a wait) is
// outstanding at any time; each step runs under step_mu_, so Stop() returning means no step
// touches the cache any more.
template <typename T>
class Reflector : public std::enable_shared_from_this<Reflector<T>> {
 public:
  using Cache = typename Traits<T>::Cache;

  Reflector(ApiClient& client, Cache& cache, const base::Clock& clock, InformerOptions options,
            Scheduler* scheduler, JitterSource jitter, ResourceSpec spec = Traits<T>::Spec())
      : spec_(std::move(spec)),
        client_(client),
        cache_(cache),
        clock_(clock),
        options_(std::move(options)),
        jitter_(jitter ? jitter : DefaultJitterSource()),
        backoff_(clock, options_.backoff, jitter_),
        own_scheduler_(scheduler ? nullptr : std::make_unique<AsioScheduler>(client.io())),
        scheduler_(scheduler ? scheduler : own_scheduler_.get()),
        watch_client_(client.NewConnection()),
        splitter_(options_.max_event_bytes) {}

  void Start() {
    if (started_.exchange(true)) return;
    std::weak_ptr<Reflector> weak = this->shared_from_this();
    scheduler_->After(std::chrono::nanoseconds(0), [weak] {
      if (auto self = weak.lock()) self->Step([&] { self->ListPage(""); });
    });
  }

  void Stop() {
    std::lock_guard lock(step_mu_);
    if (stopped_.exchange(true)) return;
    watch_client_->Close();
  }

  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }

  InformerStats Stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

 private:
  enum class Next { kList, kWatch };
  enum class WatchEnd { kNone, kGone, kDecode, kError };

  // Runs `fn` as a step unless stopped.
  template <typename Fn>
  void Step(Fn&& fn) {
    std::lock_guard lock(step_mu_);
    if (stopped_.load()) return;
    fn();
  }

  template <typename Fn>
  void UpdateStats(Fn&& fn) {
    std::lock_guard lock(stats_mu_);
    fn(stats_);
  }

  std::string Selectors() const {
    std::string q;
    if (!spec_.field_selector.empty()) q += "&fieldSelector=" + QueryEscape(spec_.field_selector);
    if (!options_.label_selector.empty()) {
      q += "&labelSelector=" + QueryEscape(options_.label_selector);
    }
    return q;
  }

  // ---- list ----

  void ListPage(const std::string& continue_token) {
    if (continue_token.empty()) pending_.clear();
    net::Request req;
    req.target = spec_.path + "?";
    if (options_.page_size > 0) {
      req.target += "limit=" + std::to_string(options_.page_size);
    }
    if (!continue_token.empty()) req.target += "&continue=" + QueryEscape(continue_token);
    req.target += Selectors();
    req.headers.emplace_back("Accept", spec_.list_accept);
    std::weak_ptr<Reflector> weak = this->shared_from_this();
    client_.Send(std::move(req), options_.list_timeout, options_.max_page_bytes,
                 [weak, continue_token](base::Result<net::Response> r) {
                   if (auto self = weak.lock()) {
                     self->Step([&] { self->OnPage(continue_token, std::move(r)); });
                   }
                 });
  }

  void OnPage(const std::string& continue_token, base::Result<net::Response> r) {
    if (!r.ok()) {
      RetryLater(Next::kList, "list " + spec_.name + ": " + r.error(), true);
      return;
    }
    if (r->status != 200) {
      if (r->status == 410 && !continue_token.empty()) {
        // The continue token expired between pages: start over.
        UpdateStats([](InformerStats& s) { ++s.relists_gone; });
      }
      RetryLater(Next::kList, "list " + spec_.name + ": " + ErrorFromResponse(*r).message(), true);
      return;
    }
    auto page = Traits<T>::DecodeList(r->body);
    r->body.clear();
    r->body.shrink_to_fit();
    if (!page.ok()) {
      UpdateStats([](InformerStats& s) { ++s.decode_errors; });
      RetryLater(Next::kList, "list " + spec_.name + ": " + page.error(), false);
      return;
    }
    UpdateStats([](InformerStats& s) { ++s.list_pages; });
    if (pending_.empty()) {
      pending_ = std::move(page->items);
    } else {
      // push_back grows geometrically; reserving the exact size per page would copy the whole
      // accumulated list on every page.
      for (T& item : page->items) pending_.push_back(std::move(item));
    }
    if (!page->continue_token.empty()) {
      ListPage(page->continue_token);
      return;
    }
    std::size_t count = pending_.size();
    cache_.Replace(std::move(pending_));
    pending_ = {};
    resource_version_ = page->resource_version;
    listed_ = true;
    synced_.store(true, std::memory_order_release);
    UpdateStats([&](InformerStats& s) {
      ++s.lists;
      s.resource_version = resource_version_;
    });
    spdlog::debug("informer {}: listed {} objects at resourceVersion {}", spec_.name, count,
                  resource_version_);
    Watch();
  }

  // ---- watch ----

  void Watch() {
    splitter_ = LineSplitter(options_.max_event_bytes);
    watch_status_ = 0;
    watch_error_body_.clear();
    watch_end_ = WatchEnd::kNone;
    watch_error_.clear();
    watch_events_ = 0;
    watch_started_ = clock_.Steady();

    double u = std::clamp(jitter_(), 0.0, 0.999);
    auto timeout = std::chrono::seconds(
        static_cast<int64_t>(static_cast<double>(options_.min_watch_timeout.count()) * (1.0 + u)));
    if (timeout.count() <= 0) timeout = std::chrono::seconds(1);
    net::Request req;
    req.target = client_.Target(spec_.path + "?allowWatchBookmarks=true" +
                                "&resourceVersion=" + QueryEscape(resource_version_) +
                                "&timeoutSeconds=" + std::to_string(timeout.count()) +
                                "&watch=true" + Selectors());
    req.headers.emplace_back("Accept", spec_.watch_accept);
    UpdateStats([](InformerStats& s) { ++s.watches; });

    std::weak_ptr<Reflector> weak = this->shared_from_this();
    net::StreamHandlers handlers;
    handlers.on_headers = [weak](unsigned status, std::string_view) {
      auto self = weak.lock();
      if (!self) return false;
      bool go_on = false;
      self->Step([&] {
        self->watch_status_ = status;
        go_on = true;
      });
      return go_on;
    };
    handlers.on_data = [weak](std::string_view data) {
      auto self = weak.lock();
      if (!self) return false;
      bool go_on = false;
      self->Step([&] { go_on = self->OnWatchData(data); });
      return go_on;
    };
    watch_client_->Stream(
        std::move(req), options_.list_timeout,
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout + options_.watch_idle_grace),
        0, std::move(handlers), [weak](base::Status s) {
          if (auto self = weak.lock()) {
            self->Step([&] { self->OnWatchDone(std::move(s)); });
          }
        });
  }

  bool OnWatchData(std::string_view data) {
    if (watch_status_ != 200) {
      watch_error_body_.append(data.substr(0, kMaxErrorBody - watch_error_body_.size()));
      return watch_error_body_.size() < kMaxErrorBody;
    }
    base::Status s = splitter_.Feed(data, [this](std::string_view line) { return OnEvent(line); });
    UpdateStats([&](InformerStats& st) { st.resource_version = resource_version_; });
    if (!s.ok()) {
      if (watch_end_ == WatchEnd::kNone) watch_end_ = WatchEnd::kDecode;
      watch_error_ = s.message();
      return false;
    }
    return true;
  }

  base::Status OnEvent(std::string_view line) {
    auto ev = Traits<T>::DecodeEvent(line);
    if (!ev.ok()) {
      watch_end_ = WatchEnd::kDecode;
      return ev.status();
    }
    switch (ev->type) {
      case WatchEventType::kAdded:
      case WatchEventType::kModified:
        cache_.Upsert(std::move(ev->object));
        break;
      case WatchEventType::kDeleted:
        Traits<T>::Remove(cache_, ev->object);
        break;
      case WatchEventType::kBookmark:
        UpdateStats([](InformerStats& s) { ++s.bookmarks; });
        break;
      case WatchEventType::kError:
        watch_end_ = ev->error_code == 410 ? WatchEnd::kGone : WatchEnd::kError;
        return base::Status::Error("watch error " + std::to_string(ev->error_code) + ": " +
                                   ev->error_message);
    }
    if (ev->type != WatchEventType::kBookmark) {
      ++watch_events_;
      UpdateStats([](InformerStats& s) { ++s.events; });
    }
    if (!ev->resource_version.empty()) resource_version_ = std::move(ev->resource_version);
    return base::Status::Ok();
  }

  void OnWatchDone(base::Status s) {
    UpdateStats([&](InformerStats& st) { st.resource_version = resource_version_; });
    const std::string what = "watch " + spec_.name;
    if (watch_status_ != 0 && watch_status_ != 200) {
      net::Response resp{watch_status_, "", std::move(watch_error_body_)};
      std::string err = what + ": " + ErrorFromResponse(resp).message();
      if (watch_status_ == 410) {
        UpdateStats([](InformerStats& st) { ++st.relists_gone; });
        RetryLater(Next::kList, err, false);
      } else if (watch_status_ == 504 && IsTooLargeResourceVersion(resp.body)) {
        // The server's history is behind our resourceVersion (restored or replaced storage):
        // watching from it again would fail forever, so relist (client-go does the same).
        RetryLater(Next::kList, err, true);
      } else if (watch_status_ == 429 || watch_status_ == 500 || watch_status_ == 502 ||
                 watch_status_ == 503 || watch_status_ == 504) {
        RetryLater(Next::kWatch, err, true);
      } else {
        RetryLater(Next::kList, err, true);
      }
      return;
    }
    switch (watch_end_) {
      case WatchEnd::kGone:
        UpdateStats([](InformerStats& st) { ++st.relists_gone; });
        RetryLater(Next::kList, what + ": " + watch_error_, false);
        return;
      case WatchEnd::kDecode:
        UpdateStats([](InformerStats& st) { ++st.decode_errors; });
        RetryLater(Next::kList, what + ": " + watch_error_, false);
        return;
      case WatchEnd::kError:
        RetryLater(Next::kList, what + ": " + watch_error_, true);
        return;
      case WatchEnd::kNone:
        break;
    }
    if (!s.ok()) {
      RetryLater(Next::kWatch, what + ": " + s.message(), true);
      return;
    }
    // A clean end (timeoutSeconds reached or the server closed the stream): watch again from
    // where we are, unless the stream ended at once with nothing in it (as client-go, treat a
    // very short empty watch as a failure so a broken server is not hammered).
    if (watch_events_ == 0 && clock_.Steady() - watch_started_ < std::chrono::seconds(1)) {
      RetryLater(Next::kWatch, what + ": very short watch", false);
      return;
    }
    Watch();
  }

  // A "Too large resource version" Status (k8s.io/apiserver's storage error: reason Timeout,
  // cause ResourceVersionTooLarge; older servers say it only in the message).
  static bool IsTooLargeResourceVersion(const std::string& body) {
    return body.find("ResourceVersionTooLarge") != std::string::npos ||
           body.find("Too large resource version") != std::string::npos;
  }

  // Waits per the backoff, then lists or watches again.
  void RetryLater(Next next, std::string why, bool count_failure) {
    auto delay = backoff_.Next();
    UpdateStats([&](InformerStats& s) {
      if (count_failure) ++s.failures;
      s.last_error = why;
    });
    spdlog::warn("informer {}: {}; retrying in {} ms", spec_.name, why,
                 std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    std::weak_ptr<Reflector> weak = this->shared_from_this();
    scheduler_->After(delay, [weak, next] {
      auto self = weak.lock();
      if (!self) return;
      self->Step([&] {
        if (next == Next::kWatch && self->listed_) {
          self->Watch();
        } else {
          self->ListPage("");
        }
      });
    });
  }

  const ResourceSpec spec_;
  ApiClient& client_;
  Cache& cache_;
  const base::Clock& clock_;
  const InformerOptions options_;
  JitterSource jitter_;
  Backoff backoff_;
  std::unique_ptr<AsioScheduler> own_scheduler_;
  Scheduler* scheduler_;
  std::shared_ptr<net::HttpClient> watch_client_;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> synced_{false};
  std::mutex step_mu_;  // held while a step runs

  // Loop state, touched only inside steps.
  std::vector<T> pending_;  // items of the list in progress
  std::string resource_version_;
  bool listed_ = false;
  LineSplitter splitter_;
  unsigned watch_status_ = 0;
  std::string watch_error_body_;
  WatchEnd watch_end_ = WatchEnd::kNone;
  std::string watch_error_;
  uint64_t watch_events_ = 0;
  std::chrono::steady_clock::time_point watch_started_{};

  mutable std::mutex stats_mu_;
  InformerStats stats_;  // guarded by stats_mu_
};

}  // namespace kube::internal
