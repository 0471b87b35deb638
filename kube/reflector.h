// The list+watch loop shared by the informers and the authentication ConfigMap watcher
// (internal to the kube library; see informer.h for the behaviour).
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
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

template <>
struct Traits<PodResources> {
  using Cache = PodResourcesCache;
  // Full pods (requests and limits are in the spec, which PartialObjectMetadata leaves out);
  // Running only, as the pod cache: the pods a window can hold.
  static ResourceSpec Spec() {
    return {"pods (resources)", "/api/v1/pods", "application/json", "application/json",
            "status.phase=Running"};
  }
  static base::Result<ListPage<PodResources>> DecodeList(std::string_view s) {
    return DecodePodResourcesList(s);
  }
  static base::Result<WatchEvent<PodResources>> DecodeEvent(std::string_view s) {
    return DecodePodResourcesWatchEvent(s);
  }
  static void Remove(PodResourcesCache& cache, const PodResources& p) {
    cache.Remove(p.namespace_, p.name);
  }
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
      if (auto self = weak.lock())
        self->Step([](Reflector& r) REQUIRES(r.step_mu_) { r.ListPage(""); });
    });
  }

  void Stop() {
    base::MutexLock lock(step_mu_);
    if (stopped_.exchange(true)) return;
    watch_client_->Close();
  }

  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }

  InformerStats Stats() const {
    base::MutexLock lock(stats_mu_);
    return stats_;
  }

 private:
  enum class Next { kList, kWatch };
  enum class WatchEnd { kNone, kGone, kDecode, kError };

  // Runs `fn(*this)` as a step unless stopped. `fn` is a lambda taking `Reflector& r` and marked
  // REQUIRES(r.step_mu_), so the analysis checks its body against the lock held here. (Called
  // through std::invoke: when a lambda is called directly, clang 14 binds `r` in the annotation
  // to the lambda object instead of the argument.)
  template <typename Fn>
  void Step(Fn&& fn) EXCLUDES(step_mu_) {
    base::MutexLock lock(step_mu_);
    if (stopped_.load()) return;
    std::invoke(fn, *this);
  }

  // Runs `fn(stats_)` under stats_mu_. Called only inside steps, so `fn` may read loop state.
  template <typename Fn>
  void UpdateStats(Fn&& fn) REQUIRES(step_mu_) EXCLUDES(stats_mu_) {
    base::MutexLock lock(stats_mu_);
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

  void ListPage(const std::string& continue_token) REQUIRES(step_mu_) {
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
                     self->Step([&](Reflector& reflector) REQUIRES(reflector.step_mu_) {
                       reflector.OnPage(continue_token, std::move(r));
                     });
                   }
                 });
  }

  void OnPage(const std::string& continue_token, base::Result<net::Response> r) REQUIRES(step_mu_) {
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
    UpdateStats([&](InformerStats& s) REQUIRES(step_mu_) {
      ++s.lists;
      s.resource_version = resource_version_;
    });
    spdlog::debug("informer {}: listed {} objects at resourceVersion {}", spec_.name, count,
                  resource_version_);
    Watch();
  }

  // ---- watch ----

  void Watch() REQUIRES(step_mu_) {
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
      self->Step([&](Reflector& r) REQUIRES(r.step_mu_) {
        r.watch_status_ = status;
        go_on = true;
      });
      return go_on;
    };
    handlers.on_data = [weak](std::string_view data) {
      auto self = weak.lock();
      if (!self) return false;
      bool go_on = false;
      self->Step([&](Reflector& r) REQUIRES(r.step_mu_) { go_on = r.OnWatchData(data); });
      return go_on;
    };
    watch_client_->Stream(
        std::move(req), options_.list_timeout,
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout + options_.watch_idle_grace),
        0, std::move(handlers), [weak](base::Status s) {
          if (auto self = weak.lock()) {
            self->Step([&](Reflector& r) REQUIRES(r.step_mu_) { r.OnWatchDone(std::move(s)); });
          }
        });
  }

  bool OnWatchData(std::string_view data) REQUIRES(step_mu_) {
    if (watch_status_ != 200) {
      watch_error_body_.append(data.substr(0, kMaxErrorBody - watch_error_body_.size()));
      return watch_error_body_.size() < kMaxErrorBody;
    }
    base::Status s = splitter_.Feed(
        data, [this](std::string_view line) REQUIRES(step_mu_) { return OnEvent(line); });
    UpdateStats([&](InformerStats& st)
                    REQUIRES(step_mu_) { st.resource_version = resource_version_; });
    if (!s.ok()) {
      if (watch_end_ == WatchEnd::kNone) watch_end_ = WatchEnd::kDecode;
      watch_error_ = s.message();
      return false;
    }
    return true;
  }

  base::Status OnEvent(std::string_view line) REQUIRES(step_mu_) {
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

  void OnWatchDone(base::Status s) REQUIRES(step_mu_) {
    UpdateStats([&](InformerStats& st)
                    REQUIRES(step_mu_) { st.resource_version = resource_version_; });
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
  void RetryLater(Next next, std::string why, bool count_failure) REQUIRES(step_mu_) {
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
      self->Step([&](Reflector& r) REQUIRES(r.step_mu_) {
        if (next == Next::kWatch && r.listed_) {
          r.Watch();
        } else {
          r.ListPage("");
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
  Backoff backoff_ GUARDED_BY(step_mu_);  // advanced only inside steps
  std::unique_ptr<AsioScheduler> own_scheduler_;
  Scheduler* scheduler_;
  std::shared_ptr<net::HttpClient> watch_client_;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> synced_{false};
  base::Mutex step_mu_;  // held while a step runs

  // Loop state, touched only inside steps.
  std::vector<T> pending_ GUARDED_BY(step_mu_);  // items of the list in progress
  std::string resource_version_ GUARDED_BY(step_mu_);
  bool listed_ GUARDED_BY(step_mu_) = false;
  LineSplitter splitter_ GUARDED_BY(step_mu_);
  unsigned watch_status_ GUARDED_BY(step_mu_) = 0;
  std::string watch_error_body_ GUARDED_BY(step_mu_);
  WatchEnd watch_end_ GUARDED_BY(step_mu_) = WatchEnd::kNone;
  std::string watch_error_ GUARDED_BY(step_mu_);
  uint64_t watch_events_ GUARDED_BY(step_mu_) = 0;
  std::chrono::steady_clock::time_point watch_started_ GUARDED_BY(step_mu_){};

  mutable base::Mutex stats_mu_;
  InformerStats stats_ GUARDED_BY(stats_mu_);
};

}  // namespace kube::internal
