// cpp-metrics-server: serves metrics.k8s.io from kubelet resource metrics.
//
// main only wires: options → validate (every error at once) → build the libraries → run →
// on SIGTERM stop accepting, let in-flight requests finish, exit 0.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/api_handler.h"
#include "apiserver/auth.h"
#include "apiserver/auth_config_reloader.h"
#include "apiserver/health.h"
#include "apiserver/metrics_api.h"
#include "apiserver/openapi.h"
#include "apiserver/options.h"
#include "apiserver/self_metrics.h"
#include "apiserver/server.h"
#include "apiserver/tls.h"
#include "base/clock.h"
#include "base/duration.h"
#include "base/flags.h"
#include "base/log.h"
#include "cmd/options.h"
#include "kube/auth.h"
#include "kube/authentication_config.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "scraper/kubelet_client_impl.h"
#include "scraper/manager.h"
#include "scraper/options.h"
#include "scraper/store.h"
#include "window/publication.h"

namespace {

// The scraper's view of the node cache (the Manager applies --node-selector itself).
class CachedNodes final : public scraper::NodeSource {
 public:
  explicit CachedNodes(const kube::NodeCache& cache) : cache_(cache) {}
  std::vector<std::shared_ptr<const kube::Node>> Nodes() const override { return cache_.List(); }

 private:
  const kube::NodeCache& cache_;
};

template <typename T>
T Unwrap(base::Result<T> r, const char* what) {
  if (!r.ok()) {
    spdlog::critical("{}: {}", what, r.error());
    std::exit(1);
  }
  return std::move(r.value());
}

// One descriptor per kubelet connection and per client connection (up to max_connections):
// raise the soft open-files limit to the hard one, as Go's runtime does for metrics-server.
void RaiseOpenFilesLimit(uint64_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      spdlog::info("raised the open-files limit from {} to {}", limit.rlim_cur, raised.rlim_cur);
      limit = raised;
    } else {
      spdlog::warn("cannot raise the open-files limit from {} to {}: {}", limit.rlim_cur,
                   limit.rlim_max, std::strerror(errno));
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    spdlog::warn(
        "open-files limit {} is below the {} connections this server may hold plus one "
        "per kubelet; beyond it, new connections wait (accept backs off)",
        limit.rlim_cur, wanted);
  }
}

}  // namespace

int main(int argc, char** argv) {
  cmd::ProgramOptions options;
  base::FlagSet flags("cpp-metrics-server",
                      "cpp-metrics-server serves the Kubernetes resource metrics API "
                      "(metrics.k8s.io) from kubelet /metrics/resource.");
  options.AddFlags(flags);
  const scraper::Options& scrape_options = options.scrape;
  const apiserver::Options& api_options = options.api;
  const kube::KubeOptions& kube_options = options.kube;

  std::vector<std::string> errors = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (errors.empty() && options.show_version) {
    std::printf("%s\n", cmd::kVersion);
    return 0;
  }
  for (auto& e : options.Validate()) errors.push_back(e);
  auto manager_settings = scraper::MakeManagerSettings(scrape_options);
  if (!manager_settings.ok() &&
      std::find(errors.begin(), errors.end(), manager_settings.error()) == errors.end()) {
    errors.push_back(manager_settings.error());
  }
  if (errors.empty()) {
    if (auto s = base::SetupLogging(static_cast<int>(options.log.verbosity), options.log.format);
        !s.ok()) {
      errors.push_back(s.message());
    }
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
    std::fprintf(stderr, "Run 'cpp-metrics-server --help' for usage.\n");
    return 2;
  }
  if (auto ignored = flags.IneffectiveFlags(); !ignored.empty()) {
    std::string list;
    for (const auto& f : ignored) list += (list.empty() ? "" : ", ") + f;
    spdlog::warn("flags accepted for compatibility with metrics-server but without effect here: {}",
                 list);
  }

  RaiseOpenFilesLimit(api_options.ToServerOptions().max_connections);
  base::SystemClock& clock = base::SystemClock::Instance();
  boost::asio::io_context io;
  // The scrape loop (timers, kubelet connections, parsing, merging) runs on a thread of its own.
  // On the shared pool every scrape hopped between threads (a wakeup, a lock, a context switch
  // per step), which cost more CPU than the parsing; one thread keeps up with 10,000 nodes at a
  // 15 s resolution using a fraction of a core (README, "Benchmark").
  boost::asio::io_context scrape_io(1);

  // Kubernetes API: node and Running-pod caches, TokenReview, SubjectAccessReview.
  kube::RestConfig rest = Unwrap(kube_options.ClientConfig(), "kubernetes client config");
  auto client = Unwrap(kube::ApiClient::Create(io, rest), "kubernetes client");
  auto authn_client = Unwrap(kube::ApiClient::Create(io, Unwrap(kube_options.AuthenticationConfig(),
                                                                "authentication kubeconfig")),
                             "authentication client");
  auto authz_client = Unwrap(kube::ApiClient::Create(io, Unwrap(kube_options.AuthorizationConfig(),
                                                                "authorization kubeconfig")),
                             "authorization client");
  kube::NodeCache nodes;
  kube::PodCache pods;
  // Informer retries follow client-go's backoff (0.8 s, doubling, +up to 100 % jitter) but are
  // capped at half the resolution instead of 30 s, so that once the kube-apiserver is back after
  // an outage the caches are listing and watching again within one resolution (measured in
  // RELIABILITY.md); a handful of requests per resolution is no load for an apiserver.
  kube::InformerOptions informer_options;
  informer_options.backoff.max = std::clamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(scrape_options.metric_resolution / 2),
      informer_options.backoff.initial, std::chrono::milliseconds(30000));
  auto node_informer = kube::NewNodeInformer(*client, nodes, clock, informer_options);
  auto pod_informer = kube::NewPodInformer(*client, pods, clock, informer_options);

  // Scraper: kubelet client, window store, scrape loop; it publishes each window into `windows`.
  window::Publication windows;
  scraper::Store store(scraper::MakeStoreSettings(scrape_options), windows);
  auto kubelet = Unwrap(scraper::KubeletClientImpl::Create(
                            scrape_io, scraper::MakeKubeletClientSettings(scrape_options, &rest)),
                        "kubelet client");
  CachedNodes node_source(nodes);
  scraper::Manager manager(scrape_io, clock, node_source, *kubelet, store, *manager_settings);

  // Delegated authentication and authorization.
  kube::ReviewOptions token_review;
  token_review.cache.allowed_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api_options.authentication_token_webhook_cache_ttl);
  token_review.cache.denied_ttl = token_review.cache.allowed_ttl;
  kube::TokenReviewAuthenticator tokens(*authn_client, clock, token_review);
  kube::ReviewOptions access_review;
  access_review.cache.allowed_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api_options.authorization_webhook_cache_authorized_ttl);
  access_review.cache.denied_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api_options.authorization_webhook_cache_unauthorized_ttl);
  kube::SubjectAccessReviewAuthorizer sar(*authz_client, clock, access_review);
  apiserver::RequestAuthenticator authenticator(&tokens);
  apiserver::RequestAuthorizer authorizer(api_options.authorization_always_allow_paths, &sar);

  // Serving.
  auto certs =
      Unwrap(apiserver::ServingCertificates::Create(api_options.tls, clock), "serving certificate");
  // The CA files given by flag are re-read when they change (checked every second), the
  // ConfigMap when the watcher sees a new version.
  apiserver::AuthConfigReloader auth_config(api_options, authenticator, *certs);
  auto apply_auth_config = [&](std::shared_ptr<const kube::AuthenticationConfig> from_cluster) {
    if (base::Status st = auth_config.Apply(std::move(from_cluster)); !st.ok()) {
      spdlog::error("{}", st.message());
    }
  };
  apply_auth_config(nullptr);
  std::unique_ptr<kube::AuthenticationConfigWatcher> auth_watcher;
  if (api_options.NeedsConfigMapLookup()) {
    auth_watcher = std::make_unique<kube::AuthenticationConfigWatcher>(*authn_client, clock);
  }

  apiserver::MetricsRegistry registry;
  apiserver::ServerMetrics server_metrics = apiserver::ServerMetrics::Create(registry);
  apiserver::MetricsApiOptions api_settings;
  api_settings.versions = api_options.metrics_api_versions;
  api_settings.node_selector = manager_settings->node_selector;
  api_settings.freshness = server_metrics.metric_freshness;
  apiserver::MetricsApi api(windows, nodes, pods, clock, api_settings);

  // Self-metrics of the scraper, refreshed from its last tick report at scrape time.
  auto& scrape_duration =
      registry.Histogram("metrics_server_kubelet_request_duration_seconds",
                         "Duration of the last scrape of each node's kubelet (request and parse).",
                         {"node"}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  auto& scrape_total = registry.Counter("metrics_server_kubelet_request_total",
                                        "Kubelet scrapes since start, by outcome.", {"success"});
  auto& last_tick = registry.Gauge("metrics_server_scraper_last_tick_timestamp_seconds",
                                   "Unix time at which the last scrape tick started.");
  auto& tick_duration = registry.Gauge("metrics_server_scraper_tick_duration_seconds",
                                       "Duration of the last complete scrape tick.");
  auto& points = registry.Gauge("metrics_server_storage_points",
                                "Objects held by the metric store, by type.", {"type"});
  registry.AddCollector([&, seen = std::make_shared<std::shared_ptr<const scraper::TickReport>>()] {
    auto report = manager.LastReport();
    if (report != nullptr && report != *seen) {
      *seen = report;
      scrape_duration.Clear();
      for (const auto& n : report->nodes) {
        if (n.started != 0) {
          scrape_duration.Observe({n.node}, std::chrono::duration<double>(n.duration).count());
        }
      }
      tick_duration.Set({}, std::chrono::duration<double>(report->duration).count());
    }
    scrape_total.Set({"true"}, static_cast<double>(manager.TotalSuccesses()));
    scrape_total.Set({"false"}, static_cast<double>(manager.TotalFailures()));
    last_tick.Set({}, static_cast<double>(manager.LastTickStart()) / 1e9);
    scraper::StoreStats stats = store.Stats();
    points.Set({"node"}, static_cast<double>(stats.servable_nodes));
    points.Set({"pod"}, static_cast<double>(stats.servable_pods));
    points.Set({"container"}, static_cast<double>(stats.servable_containers));
  });

  // Health: liveness = the scrape loop started a tick within 1.5× resolution; readiness = caches
  // synced and the window holds node and pod metrics (and not shutting down).
  std::atomic<bool> shutting_down{false};
  const base::UnixNanos started = clock.Now();
  const auto resolution = scrape_options.metric_resolution;
  apiserver::HealthChecks health;
  using HC = apiserver::HealthChecks;
  health.Add("ping", HC::kHealthz | HC::kLivez | HC::kReadyz, [] { return base::Status::Ok(); });
  health.Add("metric-collection-timely", HC::kHealthz | HC::kLivez, [&] {
    base::UnixNanos last = std::max(manager.LastTickStart(), started);
    if (clock.Now() - last <= resolution.count() * 3 / 2) return base::Status::Ok();
    return base::Status::Error("no scrape tick started within 1.5x --metric-resolution");
  });
  health.Add("informer-sync", HC::kReadyz, [&] {
    if (node_informer->HasSynced() && pod_informer->HasSynced()) return base::Status::Ok();
    return base::Status::Error("node or pod cache not synced");
  });
  health.Add("metric-storage-ready", HC::kReadyz, [&] {
    auto window = windows.Current();
    if (!window->nodes().empty() && !window->pods().empty()) return base::Status::Ok();
    return base::Status::Error("no node or pod metrics yet");
  });
  health.Add("shutdown", HC::kReadyz, [&] {
    return shutting_down.load() ? base::Status::Error("shutting down") : base::Status::Ok();
  });

  apiserver::OpenApi openapi(api_options.metrics_api_versions);
  apiserver::ApiHandler handler(
      {authenticator, authorizer, api, health, openapi, registry, server_metrics, clock});
  apiserver::Server server(io, api_options.ToServerOptions(), *certs, handler);
  if (auto s = server.Listen(); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }

  // Run.
  auto work = boost::asio::make_work_guard(io);
  auto scrape_work = boost::asio::make_work_guard(scrape_io);
  const unsigned thread_count = std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < thread_count; ++i) threads.emplace_back([&io] { io.run(); });
  threads.emplace_back([&scrape_io] { scrape_io.run(); });
  if (!api_options.client_ca_file.empty() || !api_options.requestheader_client_ca_file.empty()) {
    auth_config.Start(io);
  }

  if (auth_watcher) {
    auth_watcher->Start([&](std::shared_ptr<const kube::AuthenticationConfig> config) {
      apply_auth_config(std::move(config));
    });
    // k8s.io/apiserver does not serve before it has the cluster's authentication config.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (auth_watcher->Current() == nullptr && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (auth_watcher->Current() == nullptr) {
      const std::string why = auth_watcher->LastError();
      if (!api_options.authentication_tolerate_lookup_failure) {
        spdlog::critical(
            "unable to load the kube-system/extension-apiserver-authentication ConfigMap: {} "
            "(use --authentication-tolerate-lookup-failure to continue without it)",
            why);
        work.reset();
        scrape_work.reset();
        io.stop();
        scrape_io.stop();
        for (auto& t : threads) t.join();
        return 1;
      }
      spdlog::warn("continuing without the cluster's authentication config: {}", why);
    }
  }

  node_informer->Start();
  pod_informer->Start();
  // As metrics-server does, scrape only once the node and pod caches are synced, so that the
  // first tick already sees every node and the first window is complete one resolution after
  // start instead of two (bounded: the loop starts anyway after one resolution).
  const auto sync_deadline = std::chrono::steady_clock::now() + resolution;
  while (!(node_informer->HasSynced() && pod_informer->HasSynced()) &&
         std::chrono::steady_clock::now() < sync_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  manager.Start();
  server.Start();
  spdlog::info(
      "serving metrics.k8s.io {} on https://{}:{}",
      [&] {
        std::string v;
        for (const auto& s : api_options.metrics_api_versions) v += (v.empty() ? "" : ",") + s;
        return v;
      }(),
      api_options.bind_address, server.port());

  // Pre-encode each new window off the request path, on the API's threads. Once it is encoded,
  // the previous window and its encodings are gone (unless a request still holds them): return
  // their free pages to the system, so that the resident size follows what the server holds
  // instead of its peak; glibc keeps freed memory otherwise. At 10,000 nodes this took the RSS
  // from 1,054 to 739 MiB, for 10-25 % more scrape CPU (the pages are faulted in again as the
  // next window is built; README, "Benchmark").
  window::Publication::Subscription prewarm =
      windows.Subscribe([&](const std::shared_ptr<const window::Window>&) {
        boost::asio::post(io, [&] {
          api.Encoded();
          malloc_trim(0);
        });
      });

  // Graceful shutdown: stop accepting, finish in-flight requests (bounded), exit 0.
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  boost::asio::steady_timer shutdown_timer(io);
  std::atomic<bool> stopped{false};
  auto stop_all = [&] {
    if (stopped.exchange(true)) return;
    prewarm.Reset();
    manager.Stop();
    node_informer->Stop();
    pod_informer->Stop();
    if (auth_watcher) auth_watcher->Stop();
    auth_config.Stop();
    work.reset();
    scrape_work.reset();
    io.stop();
    scrape_io.stop();
  };
  boost::asio::steady_timer shutdown_delay_timer(io);
  auto drain = [&] {
    shutdown_timer.expires_after(api_options.shutdown_timeout);
    shutdown_timer.async_wait([&](const boost::system::error_code& timer_ec) {
      if (timer_ec) return;
      spdlog::warn("shutdown timeout: {} connection(s) still open", server.connections());
      stop_all();
    });
    server.Shutdown([&] {
      boost::asio::post(io, [&] {
        shutdown_timer.cancel();
        spdlog::info("all requests finished; exiting");
        stop_all();
      });
    });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    // As k8s.io/apiserver: /readyz fails at once, requests are served as usual for
    // --shutdown-delay-duration (endpoints and load balancers stop sending traffic), then drain.
    shutting_down = true;
    if (api_options.shutdown_delay_duration <= std::chrono::nanoseconds(0)) {
      spdlog::info("received signal {}: draining in-flight requests", signal);
      drain();
      return;
    }
    spdlog::info("received signal {}: not ready; serving for {} more before draining", signal,
                 base::FormatDuration(api_options.shutdown_delay_duration));
    shutdown_delay_timer.expires_after(api_options.shutdown_delay_duration);
    shutdown_delay_timer.async_wait([&](const boost::system::error_code& timer_ec) {
      if (timer_ec) return;
      spdlog::info("shutdown delay over: draining in-flight requests");
      drain();
    });
  });

  for (auto& t : threads) t.join();
  return 0;
}
