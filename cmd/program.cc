#include "cmd/program.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "scraper/options.h"
#include "scraper/scrape_state.h"
#include "scraper/self_metrics.h"

namespace cmd {
namespace {

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

// The soft open-files limit; UINT64_MAX when unlimited or unknown.
uint64_t OpenFilesLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return limit.rlim_cur;
}

// k8s.io/apiserver does not serve before it has the cluster's authentication config.
constexpr std::chrono::seconds kAuthenticationConfigWait{10};

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : separator) + item;
  return joined;
}

// The store takes the names of the pods it keeps from the pod cache, which holds them already
// (one buffer per name in cache, store and windows instead of two). A pod the cache does not
// have yet (the first scrapes overlap the cache's filling) is looked up again at its node's next
// scrape.
scraper::StoreSettings StoreSettings(const scraper::Options& options, const kube::PodCache& pods) {
  scraper::StoreSettings settings = scraper::MakeStoreSettings(options);
  settings.pod_names = [&pods](std::string_view namespace_, std::string_view name) {
    scraper::SharedPodNames names;
    if (std::shared_ptr<const kube::Pod> pod = pods.Get(namespace_, name)) {
      names.namespace_ = pod->namespace_;
      names.name = pod->name;
    }
    return names;
  };
  return settings;
}

}  // namespace

base::Result<std::unique_ptr<Program>> Program::Create(const ProgramOptions& options,
                                                       scraper::ManagerSettings manager_settings) {
  RaiseOpenFilesLimit(options.api.ToServerOptions().max_connections);
  std::unique_ptr<Program> program(new Program(options, std::move(manager_settings)));
  base::Status built = program->ConnectKubernetes();
  if (built.ok()) built = program->BuildScraper();
  if (built.ok()) built = program->BuildAuthentication();
  if (built.ok()) built = program->BuildSinks();
  if (!built.ok()) return built;
  program->BuildServer();
  return program;
}

Program::Program(const ProgramOptions& options, scraper::ManagerSettings manager_settings)
    : options_(options),
      manager_settings_(std::move(manager_settings)),
      clock_(base::SystemClock::Instance()),
      work_(io_.get_executor()),
      scrape_work_(scrape_io_.get_executor()),
      store_(StoreSettings(options.scrape, pods_), windows_),
      server_metrics_(apiserver::ServerMetrics::Create(registry_)) {}

Program::~Program() = default;

base::Status Program::ConnectKubernetes() {
  auto rest = options_.kube.ClientConfig();
  if (!rest.ok()) return rest.status().Wrap("kubernetes client config");
  rest_ = std::move(rest).value();
  auto client = kube::ApiClient::Create(io_, rest_);
  if (!client.ok()) return client.status().Wrap("kubernetes client");
  client_ = std::move(client).value();

  auto authn_rest = options_.kube.AuthenticationConfig();
  if (!authn_rest.ok()) return authn_rest.status().Wrap("authentication kubeconfig");
  auto authn_client = kube::ApiClient::Create(io_, *authn_rest);
  if (!authn_client.ok()) return authn_client.status().Wrap("authentication client");
  authn_client_ = std::move(authn_client).value();

  auto authz_rest = options_.kube.AuthorizationConfig();
  if (!authz_rest.ok()) return authz_rest.status().Wrap("authorization kubeconfig");
  auto authz_client = kube::ApiClient::Create(io_, *authz_rest);
  if (!authz_client.ok()) return authz_client.status().Wrap("authorization client");
  authz_client_ = std::move(authz_client).value();

  const kube::InformerOptions informer_options =
      MakeInformerOptions(options_.scrape.metric_resolution);
  node_informer_ = kube::NewNodeInformer(*client_, nodes_, clock_, informer_options);
  pod_informer_ = kube::NewPodInformer(*client_, pods_, clock_, informer_options);
  if (options_.sinks.pod_resources) {
    // A second watch of the same pods: the pod informer above receives PartialObjectMetadata,
    // which has no spec; receiving full pods there would cost every server what only this mode
    // needs.
    pod_resources_informer_ =
        kube::NewPodResourcesInformer(*client_, pod_resources_, clock_, informer_options);
    resources_ = std::make_unique<ResourcesSnapshots>(pod_resources_, nodes_);
  }
  return base::Status::Ok();
}

base::Status Program::BuildScraper() {
  scraper::KubeletClientSettings settings =
      scraper::MakeKubeletClientSettings(options_.scrape, &rest_);
  if (options_.scrape.kubelet_max_idle_connections < 0) {
    const uint64_t files = OpenFilesLimit();
    settings.max_idle_connections =
        scraper::DerivedMaxIdleConnections(files, options_.scrape.kubelet_max_concurrency);
    if (files != UINT64_MAX) {
      spdlog::info(
          "keeping at most {} kubelet connections open between scrapes (open-files "
          "limit {}; --kubelet-max-idle-connections)",
          settings.max_idle_connections, files);
    }
  }
  auto kubelet = scraper::KubeletClientImpl::Create(scrape_io_, std::move(settings));
  if (!kubelet.ok()) return kubelet.status().Wrap("kubelet client");
  kubelet_ = std::move(kubelet).value();
  manager_ = std::make_unique<scraper::Manager>(scrape_io_, clock_, node_source_, *kubelet_, store_,
                                                manager_settings_);
  return base::Status::Ok();
}

base::Status Program::BuildAuthentication() {
  const apiserver::Options& api = options_.api;
  tokens_ = std::make_unique<kube::TokenReviewAuthenticator>(*authn_client_, clock_,
                                                             MakeTokenReviewOptions(api));
  access_reviews_ = std::make_unique<kube::SubjectAccessReviewAuthorizer>(
      *authz_client_, clock_, MakeAccessReviewOptions(api));
  authenticator_ = std::make_unique<apiserver::RequestAuthenticator>(tokens_.get());
  authorizer_ = std::make_unique<apiserver::RequestAuthorizer>(api.authorization_always_allow_paths,
                                                               access_reviews_.get());

  auto certs = apiserver::ServingCertificates::Create(api.tls, clock_);
  if (!certs.ok()) return certs.status().Wrap("serving certificate");
  certs_ = std::move(certs).value();
  auth_config_ = std::make_unique<apiserver::AuthConfigReloader>(api, *authenticator_, *certs_);
  ApplyAuthenticationConfig(nullptr);
  if (api.NeedsConfigMapLookup()) {
    auth_watcher_ = std::make_unique<kube::AuthenticationConfigWatcher>(*authn_client_, clock_);
  }
  return base::Status::Ok();
}

void Program::BuildServer() {
  const apiserver::Options& api = options_.api;
  scraper::RegisterScrapeMetrics(registry_, *manager_);
  scraper::RegisterStorageMetrics(registry_, store_);

  apiserver::MetricsApiOptions api_settings;
  api_settings.versions = api.metrics_api_versions;
  api_settings.node_selector = manager_settings_.node_selector;
  api_settings.freshness = server_metrics_.metric_freshness;
  apiserver::WatchOptions watch_settings;
  watch_settings.versions = api.metrics_api_versions;
  watch_settings.node_selector = manager_settings_.node_selector;
  watch_settings.max_watches = static_cast<uint32_t>(api.max_watches);
  watch_settings.min_request_timeout = std::chrono::seconds(api.min_request_timeout);
  // Lists, gets and watches serve the same encodings of each window.
  watch_settings.encoded = &encoded_windows_;
  api_settings.encoded = &encoded_windows_;
  watch_ =
      std::make_unique<apiserver::WatchHub>(io_, windows_, nodes_, pods_, clock_, watch_settings);
  api_settings.watch = watch_.get();
  api_ = std::make_unique<apiserver::MetricsApi>(windows_, nodes_, pods_, clock_, api_settings);

  health_ = apiserver::MakeServerHealthChecks({
      .clock = clock_,
      .resolution = options_.scrape.metric_resolution,
      .last_tick_start = [this] { return manager_->LastTickStart(); },
      .informers = {node_informer_.get(), pod_informer_.get()},
      .windows = windows_,
      .shutting_down = shutting_down_,
  });
  openapi_ = std::make_unique<apiserver::OpenApi>(api.metrics_api_versions);
  std::function<std::shared_ptr<const std::string>()> heapster_metrics;  // null: not served
  if (options_.sinks.heapster_metrics) {
    heapster_metrics = [this] {
      return heapster_exposition_.Get(windows_.Current(), ResourcesSource());
    };
  }
  handler_ = std::make_unique<apiserver::ApiHandler>(apiserver::ApiHandlerDeps{
      *authenticator_, *authorizer_, *api_, health_, *openapi_, registry_, server_metrics_, clock_,
      [this](bool failed_only) {
        return scraper::RenderScrapeState(manager_->LastReport().get(), clock_.Now(),
                                          {.failed_only = failed_only});
      },
      heapster_metrics});
  server_ = std::make_unique<apiserver::Server>(io_, api.ToServerOptions(), *certs_, *handler_);
  shutdown_ = std::make_unique<apiserver::GracefulShutdown>(
      io_, *server_, shutting_down_,
      apiserver::GracefulShutdown::Settings{api.shutdown_delay_duration, api.shutdown_timeout},
      [this] { Stop(); });
}

int Program::Run() {
  if (auto s = server_->Listen(); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  StartThreads();
  if (!LoadClusterAuthenticationConfig()) {
    StopThreads();
    for (auto& t : threads_) t.join();
    return 1;
  }
  StartSinks();
  StartScraping();
  StartServing();
  shutdown_->Start();
  for (auto& t : threads_) t.join();
  return 0;
}

void Program::StartThreads() {
  const unsigned thread_count = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < thread_count; ++i) threads_.emplace_back([this] { io_.run(); });
  threads_.emplace_back([this] { scrape_io_.run(); });
  threads_.emplace_back([this] {
    while (manager_->LastReport() == nullptr && !scrape_io_.stopped()) {
      scrape_io_.run_for(std::chrono::milliseconds(100));
    }
  });
  if (!options_.api.client_ca_file.empty() || !options_.api.requestheader_client_ca_file.empty()) {
    auth_config_->Start(io_);
  }
}

bool Program::LoadClusterAuthenticationConfig() {
  if (!auth_watcher_) return true;
  auth_watcher_->Start([this](std::shared_ptr<const kube::AuthenticationConfig> config) {
    ApplyAuthenticationConfig(std::move(config));
  });
  if (kube::WaitForAuthenticationConfig(*auth_watcher_, kAuthenticationConfigWait)) return true;
  const std::string why = auth_watcher_->LastError();
  if (!options_.api.authentication_tolerate_lookup_failure) {
    spdlog::critical(
        "unable to load the kube-system/extension-apiserver-authentication ConfigMap: {} "
        "(use --authentication-tolerate-lookup-failure to continue without it)",
        why);
    return false;
  }
  spdlog::warn("continuing without the cluster's authentication config: {}", why);
  return true;
}

base::Status Program::BuildSinks() {
  if (options_.sinks.sinks.empty()) return base::Status::Ok();
  const exporter::SinkMetrics metrics = exporter::SinkMetrics::Register(registry_);
  for (auto& config : options_.sinks.Configs()) {
    auto sink = exporter::CreateSink(std::move(config), metrics);
    if (!sink.ok()) return sink.status().Wrap("sink");
    (*sink)->SetResources(ResourcesSource());
    sinks_.push_back(std::move(sink).value());
  }
  return base::Status::Ok();
}

void Program::StartSinks() {
  if (sinks_.empty()) return;
  for (auto& sink : sinks_) sink->Start();
  sink_feed_ = windows_.Subscribe([this](const std::shared_ptr<const window::Window>& published) {
    for (auto& sink : sinks_) sink->Enqueue(published);  // O(1) each; never waits
  });
}

exporter::ResourcesSource Program::ResourcesSource() const {
  if (resources_ == nullptr) return {};
  return [this] { return resources_->Current(); };
}

void Program::StartScraping() {
  node_informer_->Start();
  pod_informer_->Start();
  std::vector<const kube::Informer*> informers = {node_informer_.get()};
  if (pod_resources_informer_) {
    pod_resources_informer_->Start();
    informers.push_back(pod_resources_informer_.get());
  }
  // Scrape once the node cache is synced, so that the first tick already sees every node
  // (bounded: the loop starts anyway after one resolution). Unlike metrics-server, scraping does
  // not wait for the pod cache: the window is built from the kubelets' answers, and the pod cache
  // is only read when serving, which /readyz holds back until it is synced. At 300,000 pods that
  // cache takes seconds to fill, which the first scrapes now overlap. With
  // --heapster-pod-resources the first window written also has its pods' requests.
  kube::WaitForCacheSync(informers, std::chrono::duration_cast<std::chrono::milliseconds>(
                                        options_.scrape.metric_resolution));
  manager_->Start();
}

void Program::StartServing() {
  if (options_.api.permit_port_sharing && !server_->others_listening()) {
    // Nothing else serves on the port (a first install, a restart after a crash): waiting for
    // metrics would only keep the API's discovery down for a resolution (the aggregator then
    // retries with a growing back-off, and kubectl reports the Metrics API as not available for
    // seconds after the server is back). Listening now, the server answers discovery at once
    // and metrics from its first window, as without the flag.
    spdlog::info("port sharing: no other server listens on port {}: listening at once",
                 server_->port());
  } else if (options_.api.permit_port_sharing) {
    // Sharing the port (a rolling upgrade on a host-network node: the old pod still serves),
    // this server listens once it has metrics to serve: the kernel gives a listening socket its
    // share of new connections, which would otherwise get no metrics for a resolution. Bounded:
    // the first window is complete one resolution after the first tick (which is now); after
    // that plus 10 s it listens anyway (a node-less cluster never has metrics; an old server
    // that is not ending its rollout).
    const auto limit = std::chrono::steady_clock::now() + options_.scrape.metric_resolution +
                       std::chrono::seconds(10);
    auto has_metrics = [this] {
      auto window = windows_.Current();
      return !window->nodes().empty() && !window->pods().empty();
    };
    while (!has_metrics() && !shutting_down_.load() && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    spdlog::info("port sharing: listening {}",
                 has_metrics() ? "with the first metrics" : "without metrics after the wait");
  }
  server_->Start();
  spdlog::info("serving metrics.k8s.io {} on https://{}:{}",
               Join(options_.api.metrics_api_versions, ","), options_.api.bind_address,
               server_->port());
  // While large lists or watches use the window's shared encodings, encode each new window off
  // the request path, on the API's threads (requests meanwhile get the previous window's
  // encodings: they do not wait for this one's, which at 150,000 pods takes ~100 ms); once a
  // window passes without such a request, drop them (EncodedWindowCache). After either, the
  // previous window and its encodings are gone (unless a request still holds them): return their
  // free pages to the system, so that the resident size follows what the server holds instead of
  // its peak; glibc keeps freed memory otherwise. At 10,000 nodes this took the RSS from 1,054 to
  // 739 MiB, for 10-25 % more scrape CPU (the pages are faulted in again as the next window is
  // built; README, "Benchmark"). The encodings' own blocks are not among them: while encodings
  // are kept, they stay mapped, lazily freed, for the next window (base::BlockPool).
  prewarm_ = encoded_windows_.EncodeWhileUsed(
      windows_, [this](std::function<void()> work) { boost::asio::post(io_, std::move(work)); },
      [] { malloc_trim(0); });
}

void Program::Stop() {
  prewarm_.Reset();
  sink_feed_.Reset();
  manager_->Stop();
  node_informer_->Stop();
  pod_informer_->Stop();
  if (pod_resources_informer_) pod_resources_informer_->Stop();
  if (auth_watcher_) auth_watcher_->Stop();
  auth_config_->Stop();
  StopThreads();
}

void Program::StopThreads() {
  work_.reset();
  scrape_work_.reset();
  io_.stop();
  scrape_io_.stop();
}

void Program::ApplyAuthenticationConfig(
    std::shared_ptr<const kube::AuthenticationConfig> from_cluster) {
  if (base::Status st = auth_config_->Apply(std::move(from_cluster)); !st.ok()) {
    spdlog::error("{}", st.message());
  }
}

}  // namespace cmd
