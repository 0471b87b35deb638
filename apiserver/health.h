// /healthz, /livez and /readyz in k8s.io/apiserver's format: "ok" when every check passes,
// else 500 listing the checks; `?verbose` lists them always ("[+]ping ok", "[-]x failed: reason
// withheld", then "<endpoint> check passed|failed"); `?exclude=<name>` skips a check;
// /<endpoint>/<name> runs one check.
//
// Thread-safety: add checks before serving; Serve may then be called from any thread. Checks
// must be cheap and thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/request.h"
#include "base/clock.h"
#include "base/result.h"
#include "kube/informer.h"
#include "window/window.h"

namespace apiserver {

class HealthChecks {
 public:
  using Check = std::function<base::Status()>;
  enum Endpoint : unsigned { kHealthz = 1, kLivez = 2, kReadyz = 4 };

  // Registers `check` under `name` for the endpoints in the `endpoints` bit set.
  void Add(std::string name, unsigned endpoints, Check check);

  // nullopt when `path` is not a health path.
  std::optional<HttpResponse> Serve(std::string_view path, const Query& query) const;

 private:
  struct Entry {
    std::string name;
    unsigned endpoints;
    Check check;
  };
  std::vector<Entry> checks_;
};

// What the server's checks read. Everything referenced must outlive the checks built from it;
// every reader must be thread-safe.
struct HealthSources {
  const base::Clock& clock;
  std::chrono::nanoseconds resolution;  // --metric-resolution
  // Wall time at which the scrape loop last started a tick; 0 before the first.
  std::function<base::UnixNanos()> last_tick_start;
  std::vector<const kube::Informer*> informers;  // the node and pod caches' informers
  const window::Source& windows;
  const std::atomic<bool>& shutting_down;  // set at the shutdown signal
};

// The server's checks, as metrics-server defines health:
//   ping                      healthz livez readyz  always passes
//   metric-collection-timely  healthz livez         a scrape tick started within 1.5x the
//                                                   resolution (counted from this call before
//                                                   the first tick)
//   informer-sync             readyz                every informer has synced
//   metric-storage-ready      readyz                the window holds node and pod metrics
//   shutdown                  readyz                no shutdown signal yet
HealthChecks MakeServerHealthChecks(HealthSources sources);

}  // namespace apiserver
