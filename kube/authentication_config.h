// The kube-system/extension-apiserver-authentication ConfigMap, which kube-apiserver fills from
// its --client-ca-file and --requestheader-* flags, and a watcher keeping it current.
//
// Thread-safety: AuthenticationConfig is an immutable value once published. The watcher's
// public methods may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "kube/backoff.h"

namespace kube {

class ApiClient;

struct AuthenticationConfig {
  std::string client_ca_pem;                  // client-ca-file; "" = absent
  std::string requestheader_client_ca_pem;    // requestheader-client-ca-file; "" = front proxy off
  std::vector<std::string> allowed_names;     // requestheader-allowed-names; empty = any CN
  std::vector<std::string> username_headers;  // requestheader-username-headers
  std::vector<std::string> uid_headers;       // requestheader-uid-headers (newer clusters)
  std::vector<std::string> group_headers;     // requestheader-group-headers
  std::vector<std::string> extra_headers_prefix;  // requestheader-extra-headers-prefix
  std::string resource_version;                   // of the ConfigMap it came from

  bool operator==(const AuthenticationConfig&) const = default;
};

// Decodes a ConfigMap object (JSON). The requestheader-* keys hold JSON arrays in strings;
// absent keys are empty. Fails on invalid JSON, a non-ConfigMap, or a list key that is not a
// JSON array of strings (naming the key).
base::Result<AuthenticationConfig> ParseAuthenticationConfigMap(std::string_view json);

struct AuthenticationConfigWatcherOptions {
  std::string namespace_ = "kube-system";
  std::string name = "extension-apiserver-authentication";
  std::chrono::milliseconds request_timeout{10000};
  std::size_t max_object_bytes = 4 << 20;
  std::chrono::seconds min_watch_timeout{300};
  BackoffOptions backoff;
};

// Lists the ConfigMap (fieldSelector=metadata.name=<name>), then watches it, with the informers'
// loop (informer.h: re-watch, re-list on 410, backoff), and publishes each changed version. A
// deleted ConfigMap leaves the last config in place (as k8s.io/apiserver keeps its last CAs).
class AuthenticationConfigWatcher {
 public:
  using Callback = std::function<void(std::shared_ptr<const AuthenticationConfig>)>;

  // `client`, `clock` and `scheduler` (null = Asio timers) must outlive the watcher.
  AuthenticationConfigWatcher(ApiClient& client, const base::Clock& clock,
                              AuthenticationConfigWatcherOptions options = {},
                              Scheduler* scheduler = nullptr);
  ~AuthenticationConfigWatcher();  // stops

  // Starts on the client's io_context. `on_change` (may be empty) runs on an io thread after
  // each change, including the first successful read; it must not block.
  void Start(Callback on_change);
  void Stop();

  // The latest config, or null before the first successful read.
  std::shared_ptr<const AuthenticationConfig> Current() const;
  // True once the first list completed (even if the ConfigMap does not exist).
  bool HasSynced() const;
  // The most recent error of the list/watch loop (e.g. "list configmap kube-system/...: 403
  // ..."), even if it recovered since; "" if none ever happened.
  std::string LastError() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocks until `watcher` has a config or `timeout` passes; true = it has one. For main, on a
// thread that is not running the io_context (k8s.io/apiserver does not serve before it has the
// cluster's authentication config either).
bool WaitForAuthenticationConfig(const AuthenticationConfigWatcher& watcher,
                                 std::chrono::milliseconds timeout);

}  // namespace kube
