// The server assembled from its validated options, as metrics-server's pkg/server/config.go
// does it: the Kubernetes API clients with the node and pod caches, the scraper (kubelet client,
// store, scrape loop) publishing into the window, delegated authentication and authorization,
// the self-metrics each component registers, the health checks and the TLS server. Run() starts
// them in order and returns when the shutdown sequence (apiserver/shutdown.h) has stopped them.
//
// Threads: max(2, cores) run the API, the informers and the review clients; one more runs the
// scrape loop (timers, kubelet connections, parsing, merging). On the shared pool every scrape
// hopped between threads (a wakeup, a lock, a context switch per step), which cost more CPU than
// the parsing; one thread keeps up with 10,000 nodes at a 15 s resolution using a fraction of a
// core (README, "Benchmark").
//
// Not thread-safe: main creates one Program and runs it once.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "apiserver/api_handler.h"
#include "apiserver/auth.h"
#include "apiserver/auth_config_reloader.h"
#include "apiserver/health.h"
#include "apiserver/metrics_api.h"
#include "apiserver/openapi.h"
#include "apiserver/self_metrics.h"
#include "apiserver/server.h"
#include "apiserver/shutdown.h"
#include "apiserver/tls.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "cmd/options.h"
#include "cmd/pod_resources.h"
#include "exporter/prometheus_text.h"
#include "exporter/window_sink.h"
#include "kube/auth.h"
#include "kube/authentication_config.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "scraper/kubelet_client_impl.h"
#include "scraper/manager.h"
#include "scraper/node_source.h"
#include "scraper/store.h"
#include "window/publication.h"

namespace cmd {

class Program {
 public:
  // Builds every component; opens no socket and starts no thread. `options` must be valid
  // (ProgramOptions::Validate; `manager_settings` derived from them) and outlive the Program.
  // Fails with "<what>: <why>", e.g. "kubelet client: ...".
  static base::Result<std::unique_ptr<Program>> Create(const ProgramOptions& options,
                                                       scraper::ManagerSettings manager_settings);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Listens, starts the threads, waits for the cluster's authentication config (when read from
  // the cluster) and, up to one resolution, for the caches to sync, then scrapes and serves until
  // SIGTERM or SIGINT ends the shutdown sequence. Returns the exit code: 0 after the shutdown, 1
  // when the server could not start (logged).
  int Run();

 private:
  // The scraper's view of the node cache (the Manager applies --node-selector itself).
  class CachedNodes final : public scraper::NodeSource {
   public:
    explicit CachedNodes(const kube::NodeCache& cache) : cache_(cache) {}
    std::vector<std::shared_ptr<const kube::Node>> Nodes() const override { return cache_.List(); }

   private:
    const kube::NodeCache& cache_;
  };

  Program(const ProgramOptions& options, scraper::ManagerSettings manager_settings);

  // The steps of Create, in order.
  base::Status ConnectKubernetes();
  base::Status BuildScraper();
  base::Status BuildAuthentication();
  base::Status BuildSinks();
  void BuildServer();
  // The Heapster consumers' source of pods' requests and limits; empty without
  // --heapster-pod-resources.
  exporter::ResourcesSource ResourcesSource() const;

  // The steps of Run.
  void StartThreads();
  // True when the server may serve: it has the cluster's authentication config, or was told to
  // go on without it (--authentication-tolerate-lookup-failure), or does not read it.
  bool LoadClusterAuthenticationConfig();
  // Starts each --sink and feeds it every published window (before the first tick).
  void StartSinks();
  void StartScraping();
  void StartServing();
  // Ends every loop and lets the threads return (the shutdown sequence's last step). Once.
  void Stop();
  void StopThreads();
  void ApplyAuthenticationConfig(std::shared_ptr<const kube::AuthenticationConfig> from_cluster);

  const ProgramOptions& options_;
  const scraper::ManagerSettings manager_settings_;
  base::SystemClock& clock_;
  boost::asio::io_context io_;
  // The scrape loop: one thread, and a second one until the first tick has ended, so that its
  // TLS handshakes (about 0.5 ms of CPU each) use two cores. After that one thread does it all:
  // with each step of a scrape free to run on either of two threads, CPU per node per tick rose
  // by 15-25 % at 1,000 nodes (README, "Benchmark").
  boost::asio::io_context scrape_io_{2};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> scrape_work_;

  // Kubernetes API: node and Running-pod caches, TokenReview, SubjectAccessReview.
  kube::RestConfig rest_;
  std::unique_ptr<kube::ApiClient> client_;
  std::unique_ptr<kube::ApiClient> authn_client_;
  std::unique_ptr<kube::ApiClient> authz_client_;
  kube::NodeCache nodes_;
  kube::PodCache pods_;
  std::unique_ptr<kube::Informer> node_informer_;
  std::unique_ptr<kube::Informer> pod_informer_;
  // --heapster-pod-resources: full Running pods narrowed to their requests and limits, and the
  // snapshots of them (with the nodes' allocatable) that the Heapster consumers take; else null.
  kube::PodResourcesCache pod_resources_;
  std::unique_ptr<kube::Informer> pod_resources_informer_;
  std::unique_ptr<ResourcesSnapshots> resources_;

  // Scraper: kubelet client, window store, scrape loop; it publishes each window into windows_.
  window::Publication windows_;
  scraper::Store store_;
  std::unique_ptr<scraper::KubeletClientImpl> kubelet_;
  CachedNodes node_source_{nodes_};
  std::unique_ptr<scraper::Manager> manager_;

  // Delegated authentication and authorization; the CA files given by flag are re-read when they
  // change, the cluster's ConfigMap when the watcher sees a new version.
  std::unique_ptr<kube::TokenReviewAuthenticator> tokens_;
  std::unique_ptr<kube::SubjectAccessReviewAuthorizer> access_reviews_;
  std::unique_ptr<apiserver::RequestAuthenticator> authenticator_;
  std::unique_ptr<apiserver::RequestAuthorizer> authorizer_;
  std::unique_ptr<apiserver::ServingCertificates> certs_;
  std::unique_ptr<apiserver::AuthConfigReloader> auth_config_;
  std::unique_ptr<kube::AuthenticationConfigWatcher> auth_watcher_;  // null: not read

  // Serving.
  base::MetricsRegistry registry_;
  apiserver::ServerMetrics server_metrics_;
  apiserver::EncodedWindowCache encoded_windows_{&pods_};  // shared by watch_ and api_
  exporter::HeapsterExposition heapster_exposition_;  // /metrics/heapster (--heapster-metrics)
  std::unique_ptr<apiserver::WatchHub> watch_;
  std::unique_ptr<apiserver::MetricsApi> api_;
  std::atomic<bool> shutting_down_{false};
  apiserver::HealthChecks health_;
  std::unique_ptr<apiserver::OpenApi> openapi_;
  std::unique_ptr<apiserver::ApiHandler> handler_;
  std::unique_ptr<apiserver::Server> server_;
  std::unique_ptr<apiserver::GracefulShutdown> shutdown_;

  std::vector<std::thread> threads_;
  window::Publication::Subscription prewarm_;

  // Export: each --sink on its own threads, fed by a publication listener that only queues.
  // Declared last: the subscription ends before the sinks stop.
  std::vector<std::unique_ptr<exporter::WindowSink>> sinks_;
  window::Publication::Subscription sink_feed_;
};

}  // namespace cmd
