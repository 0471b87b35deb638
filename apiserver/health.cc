#include "apiserver/health.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace apiserver {

void HealthChecks::Add(std::string name, unsigned endpoints, Check check) {
  checks_.push_back({std::move(name), endpoints, std::move(check)});
}

std::optional<HttpResponse> HealthChecks::Serve(std::string_view path, const Query& query) const {
  std::string_view endpoint_name;
  unsigned endpoint = 0;
  for (auto [name, bit] : {std::pair<std::string_view, unsigned>{"healthz", kHealthz},
                           {"livez", kLivez},
                           {"readyz", kReadyz}}) {
    std::string prefix = "/" + std::string(name);
    if (path == prefix || path.substr(0, prefix.size() + 1) == prefix + "/") {
      endpoint_name = name;
      endpoint = bit;
      break;
    }
  }
  if (endpoint == 0) return std::nullopt;
  std::string_view single;
  if (path.size() > endpoint_name.size() + 2) single = path.substr(endpoint_name.size() + 2);

  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  bool found = single.empty();
  bool failed = false;
  std::string listing;
  std::optional<std::string> exclude = query.Get("exclude");
  for (const auto& c : checks_) {
    if ((c.endpoints & endpoint) == 0) continue;
    if (!single.empty() && c.name != single) continue;
    if (exclude && *exclude == c.name) {
      listing += "[+]" + c.name + " excluded: ok\n";
      continue;
    }
    found = true;
    base::Status s = c.check();
    if (s.ok()) {
      listing += "[+]" + c.name + " ok\n";
    } else {
      failed = true;
      listing += "[-]" + c.name + " failed: reason withheld\n";
      spdlog::debug("{} check {} failed: {}", endpoint_name, c.name, s.message());
    }
  }
  if (!found) {
    r.status = 404;
    r.body = "404 page not found\n";
    return r;
  }
  const bool verbose = query.Get("verbose").has_value();
  if (failed) {
    r.status = 500;
    r.body = listing + std::string(endpoint_name) + " check failed\n";
  } else if (verbose && single.empty()) {
    r.body = listing + std::string(endpoint_name) + " check passed\n";
  } else {
    r.body = "ok";
  }
  return r;
}

HealthChecks MakeServerHealthChecks(HealthSources sources) {
  const base::UnixNanos started = sources.clock.Now();
  HealthChecks health;
  using HC = HealthChecks;
  health.Add("ping", HC::kHealthz | HC::kLivez | HC::kReadyz, [] { return base::Status::Ok(); });
  health.Add("metric-collection-timely", HC::kHealthz | HC::kLivez,
             [&clock = sources.clock, resolution = sources.resolution,
              last_tick_start = sources.last_tick_start, started] {
               base::UnixNanos last = std::max(last_tick_start(), started);
               if (clock.Now() - last <= resolution.count() * 3 / 2) return base::Status::Ok();
               return base::Status::Error("no scrape tick started within 1.5x --metric-resolution");
             });
  health.Add("informer-sync", HC::kReadyz, [informers = sources.informers] {
    for (const kube::Informer* informer : informers) {
      if (!informer->HasSynced()) return base::Status::Error("node or pod cache not synced");
    }
    return base::Status::Ok();
  });
  health.Add("metric-storage-ready", HC::kReadyz, [&windows = sources.windows] {
    auto window = windows.Current();
    if (!window->nodes().empty() && !window->pods().empty()) return base::Status::Ok();
    return base::Status::Error("no node or pod metrics yet");
  });
  health.Add("shutdown", HC::kReadyz, [&shutting_down = sources.shutting_down] {
    return shutting_down.load() ? base::Status::Error("shutting down") : base::Status::Ok();
  });
  return health;
}

}  // namespace apiserver
