#include "kube/authentication_config.h"

#include <chrono>
#include <thread>

#include "base/mutex.h"
#include "kube/reflector.h"

namespace kube {
namespace internal {

// Receives the ConfigMap from the reflector and publishes it.
class AuthenticationConfigSink {
 public:
  void Replace(std::vector<AuthenticationConfig> items) {
    // The field selector leaves at most one item; an empty list means the ConfigMap is absent.
    if (!items.empty()) Publish(std::move(items.back()));
  }
  void Upsert(AuthenticationConfig config) { Publish(std::move(config)); }

  std::shared_ptr<const AuthenticationConfig> Current() const {
    base::MutexLock lock(mu_);
    return current_;
  }
  void SetCallback(AuthenticationConfigWatcher::Callback cb) {
    base::MutexLock lock(mu_);
    callback_ = std::move(cb);
  }

 private:
  void Publish(AuthenticationConfig config) {
    AuthenticationConfigWatcher::Callback cb;
    std::shared_ptr<const AuthenticationConfig> next;
    {
      base::MutexLock lock(mu_);
      if (current_) {
        // Ignore re-deliveries that change nothing but the resourceVersion.
        AuthenticationConfig a = *current_;
        a.resource_version = config.resource_version;
        if (a == config) {
          current_ = std::make_shared<const AuthenticationConfig>(std::move(config));
          return;
        }
      }
      current_ = std::make_shared<const AuthenticationConfig>(std::move(config));
      next = current_;
      cb = callback_;
    }
    if (cb) cb(next);
  }

  mutable base::Mutex mu_;
  std::shared_ptr<const AuthenticationConfig> current_ GUARDED_BY(mu_);
  AuthenticationConfigWatcher::Callback callback_ GUARDED_BY(mu_);
};

template <>
struct Traits<AuthenticationConfig> {
  using Cache = AuthenticationConfigSink;
  static base::Result<ListPage<AuthenticationConfig>> DecodeList(std::string_view s) {
    auto raw = DecodeRawList(s);
    if (!raw.ok()) return raw.status();
    ListPage<AuthenticationConfig> page;
    page.resource_version = raw->resource_version;
    page.continue_token = raw->continue_token;
    for (const std::string& item : raw->items) {
      auto c = ParseAuthenticationConfigMap(item);
      if (!c.ok()) return c.status();
      page.items.push_back(std::move(c.value()));
    }
    return page;
  }
  static base::Result<WatchEvent<AuthenticationConfig>> DecodeEvent(std::string_view s) {
    auto raw = DecodeRawWatchEvent(s);
    if (!raw.ok()) return raw.status();
    WatchEvent<AuthenticationConfig> ev;
    ev.type = raw->type;
    ev.resource_version = raw->resource_version;
    ev.error_code = raw->error_code;
    ev.error_message = raw->error_message;
    if (ev.type == WatchEventType::kAdded || ev.type == WatchEventType::kModified) {
      auto c = ParseAuthenticationConfigMap(raw->object);
      if (!c.ok()) return c.status();
      ev.object = std::move(c.value());
    }
    return ev;
  }
  static void Remove(AuthenticationConfigSink&, const AuthenticationConfig&) {}
};

}  // namespace internal

struct AuthenticationConfigWatcher::Impl {
  internal::AuthenticationConfigSink sink;
  std::shared_ptr<internal::Reflector<AuthenticationConfig>> reflector;
};

AuthenticationConfigWatcher::AuthenticationConfigWatcher(ApiClient& client,
                                                         const base::Clock& clock,
                                                         AuthenticationConfigWatcherOptions options,
                                                         Scheduler* scheduler)
    : impl_(std::make_shared<Impl>()) {
  InformerOptions io;
  io.page_size = 0;
  io.list_timeout = options.request_timeout;
  io.max_page_bytes = options.max_object_bytes;
  io.max_event_bytes = options.max_object_bytes;
  io.min_watch_timeout = options.min_watch_timeout;
  io.backoff = options.backoff;
  internal::ResourceSpec spec{"configmap " + options.namespace_ + "/" + options.name,
                              "/api/v1/namespaces/" + options.namespace_ + "/configmaps",
                              "application/json", "application/json",
                              "metadata.name=" + options.name};
  impl_->reflector = std::make_shared<internal::Reflector<AuthenticationConfig>>(
      client, impl_->sink, clock, io, scheduler, DefaultJitterSource(), std::move(spec));
}

AuthenticationConfigWatcher::~AuthenticationConfigWatcher() { Stop(); }

void AuthenticationConfigWatcher::Start(Callback on_change) {
  impl_->sink.SetCallback(std::move(on_change));
  impl_->reflector->Start();
}

void AuthenticationConfigWatcher::Stop() { impl_->reflector->Stop(); }

std::shared_ptr<const AuthenticationConfig> AuthenticationConfigWatcher::Current() const {
  return impl_->sink.Current();
}

bool AuthenticationConfigWatcher::HasSynced() const { return impl_->reflector->HasSynced(); }

std::string AuthenticationConfigWatcher::LastError() const {
  return impl_->reflector->Stats().last_error;
}

bool WaitForAuthenticationConfig(const AuthenticationConfigWatcher& watcher,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (watcher.Current() == nullptr) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace kube
