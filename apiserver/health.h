// /healthz, /livez and /readyz in k8s.io/apiserver's format: "ok" when every check passes,
// else 500 listing the checks; `?verbose` lists them always ("[+]ping ok", "[-]x failed: reason
// withheld", then "<endpoint> check passed|failed"); `?exclude=<name>` skips a check;
// /<endpoint>/<name> runs one check.
//
// Thread-safety: add checks before serving; Serve may then be called from any thread. Checks
// must be cheap and thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/request.h"
#include "base/result.h"

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

}  // namespace apiserver
