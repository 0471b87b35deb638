// Benchmark of the metrics.k8s.io request path (not a test; prints figures).
//
// Builds a window of P pods (2 containers each) on N nodes with Running-pod and node caches to
// match, then measures, through the full request pipeline (authentication, authorization with an
// allow-all decision as a warm SubjectAccessReview cache gives it, routing, selectors,
// negotiation, encoding):
//   1. listing all pods (/apis/metrics.k8s.io/v1beta1/pods) in JSON and in protobuf: latency of
//      the first request of a new window (which pre-encodes it) and of the following ones, to
//      the last byte of the body (a large list's is streamed: read chunk by chunk);
//   2. HPA-shaped requests (one namespace, a label selector matching ~20 pods, protobuf) at a
//      fixed arrival rate on one thread: achieved throughput and latency percentiles measured
//      from each request's scheduled start (open loop, so queueing counts);
//   3. the same HPA requests over real TLS on 127.0.0.1 with keep-alive, the server on
//      `server_threads` io threads (optional, skipped with tls=0); with publish_every > 0, a
//      thread builds and publishes a new window of the same size every that many seconds
//      meanwhile, and each one is pre-encoded and memory trimmed on the server's threads, as
//      the server does after every tick: the HPA latency while windows come and go;
//   4. all-pods lists over that TLS server, one kept-alive connection (with tls=1): latency to
//      the body's last byte and the CPU of the server's threads per list.
//
// Usage: api_bench [pods=30000] [nodes=1000] [list_iterations=50] [hpa_rate=2000]
//                  [hpa_seconds=5] [tls=1] [publish_every=0] [server_threads=1] [trim=1]
// Pin to one core for the "one core" figures: taskset -c 0 build/test/bench/api_bench
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/api_handler.h"
#include "apiserver/encoding.h"
#include "apiserver/tls.h"
#include "net/http_client.h"
#include "test/testing/fake_authorizer.h"
#include "test/testing/test_pki.h"
#include "window/publication.h"

namespace {

using Clock = std::chrono::steady_clock;
using apiserver::HttpRequest;
using apiserver::HttpResponse;

constexpr int kPodsPerDeployment = 20;

struct Cluster {
  std::vector<kube::Node> nodes;
  std::vector<kube::Pod> pods;
  std::shared_ptr<const window::Window> window;
  int namespaces = 0;
};

// With `names` (the pod cache's pod i for the i-th pod made here), the window's pods take their
// namespace and name buffers from the cache, as the server's store takes them from its pod cache
// (StoreSettings::pod_names).
Cluster MakeCluster(int pod_count, int node_count, base::UnixNanos now, uint64_t generation,
                    const std::vector<std::shared_ptr<const kube::Pod>>* names = nullptr) {
  Cluster c;
  std::vector<window::NodeMetrics> node_metrics;
  for (int i = 0; i < node_count; ++i) {
    std::string name = "node-" + std::to_string(10000 + i);
    c.nodes.push_back({name,
                       {{"kubernetes.io/hostname", name},
                        {"kubernetes.io/os", "linux"},
                        {"node.kubernetes.io/instance-type", "m5.2xlarge"},
                        {"topology.kubernetes.io/zone", "zone-" + std::to_string(i % 3)}},
                       {},
                       {},
                       10250,
                       8000,
                       32ll << 30});
    node_metrics.push_back({name, now - 3'000'000'000LL, std::chrono::milliseconds(15003),
                            1234567890ull + static_cast<uint64_t>(i),
                            (12ull << 30) + static_cast<uint64_t>(i) * 4096});
  }
  // 300 pods (15 deployments of 20) per namespace.
  const int per_namespace = 15 * kPodsPerDeployment;
  c.namespaces = (pod_count + per_namespace - 1) / per_namespace;
  std::vector<window::PodInput> pod_metrics;
  for (int i = 0; i < pod_count; ++i) {
    int ns = i / per_namespace;
    int deployment = (i % per_namespace) / kPodsPerDeployment;
    std::string ns_name = "team-" + std::to_string(100 + ns);
    std::string app = "service-" + std::to_string(deployment);
    std::string name = app + "-7d9f8c6b5-" + std::to_string(10000 + i);
    c.pods.push_back({ns_name,
                      name,
                      {{"app", app},
                       {"pod-template-hash", "7d9f8c6b5"},
                       {"app.kubernetes.io/part-of", "shop"},
                       {"version", "v1.2.3"}}});
    window::PodInput p;
    if (names != nullptr) {
      p.namespace_ = (*names)[static_cast<size_t>(i)]->namespace_;
      p.name = (*names)[static_cast<size_t>(i)]->name;
    } else {
      p.namespace_ = ns_name;
      p.name = name;
    }
    p.timestamp = now - 4'000'000'000LL;
    p.window = std::chrono::milliseconds(14987);
    p.containers = {{"app", 12345678ull + static_cast<uint64_t>(i),
                     (300ull << 20) + static_cast<uint64_t>(i) * 4096},
                    {"istio-proxy", 2345678, 60ull << 20}};
    pod_metrics.push_back(std::move(p));
  }
  c.window =
      std::make_shared<window::Window>(generation, std::move(node_metrics), std::move(pod_metrics));
  return c;
}

// CPU time of the calling thread, which contention from other processes does not inflate.
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Bytes of the blocks EncodedWindows hold now (mapped outside the heap mallinfo2 counts).
size_t EncodedBlockBytes() {
  const base::BlockPool& blocks = apiserver::EncodedWindow::Blocks();
  return (blocks.mapped() - blocks.spare()) * blocks.block_bytes();
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

HttpResponse Serve(apiserver::ApiHandler& handler, const std::string& target,
                   const std::string& accept) {
  HttpRequest req;
  req.method = "GET";
  req.target = target;
  req.headers = {{"Accept", accept}, {"User-Agent", "bench"}};
  HttpResponse out;
  handler.Handle(std::move(req), [&](HttpResponse r) { out = std::move(r); });
  return out;
}

// The bytes of `r`'s body; a streamed body (a large list) is read to its end, chunk by chunk,
// as a connection would take it.
size_t ReadBody(HttpResponse& r) {
  if (!r.stream) return r.body.size();
  size_t bytes = 0;
  for (bool end = false; !end;) {
    r.stream->Next([&](apiserver::StreamChunk chunk) {
      end = chunk.end;
      for (std::string_view p : chunk.parts) bytes += p.size();
    });
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, double def) { return argc > i ? std::atof(argv[i]) : def; };
  const int pod_count = static_cast<int>(arg(1, 30000));
  const int node_count = static_cast<int>(arg(2, 1000));
  const int list_iterations = static_cast<int>(arg(3, 50));
  const double hpa_rate = arg(4, 2000);
  const double hpa_seconds = arg(5, 5);
  const bool with_tls = arg(6, 1) != 0;
  const double publish_every = arg(7, 0);
  const int server_threads = std::max(1, static_cast<int>(arg(8, 1)));
  if (pod_count < 1 || node_count < 1 || list_iterations < 1 || hpa_rate <= 0 ||
      hpa_rate * hpa_seconds < 1) {
    std::fprintf(stderr,
                 "api_bench: pods, nodes and list_iterations must be at least 1, and hpa_rate x "
                 "hpa_seconds at least one request (percentiles of nothing are undefined)\n");
    return 2;
  }
  const bool trim = arg(9, 1) != 0;  // 0: no malloc_trim after encoding (the server trims)

  base::SystemClock& clock = base::SystemClock::Instance();
  Cluster cluster = MakeCluster(pod_count, node_count, clock.Now(), 1);
  window::Publication windows;
  windows.Publish(cluster.window);
  kube::NodeCache nodes;
  kube::PodCache pods;
  nodes.Replace(cluster.nodes);
  pods.Replace(cluster.pods);
  // The cached pods in the order MakeCluster makes them, looked up once for every window.
  std::vector<std::shared_ptr<const kube::Pod>> names;
  names.reserve(cluster.pods.size());
  for (const kube::Pod& p : cluster.pods) names.push_back(pods.Get(p.namespace_, p.name));

  testing_support::FakeAuthorizer allow;
  apiserver::RequestAuthenticator authn(nullptr);
  apiserver::RequestAuthorizer authz({}, &allow);
  base::MetricsRegistry registry;
  apiserver::ServerMetrics metrics = apiserver::ServerMetrics::Create(registry);
  apiserver::MetricsApiOptions options;
  options.freshness = metrics.metric_freshness;
  apiserver::EncodedWindowCache encoded(&pods);  // as the server's
  options.encoded = &encoded;
  apiserver::MetricsApi api(windows, nodes, pods, clock, options);
  apiserver::HealthChecks health;
  apiserver::OpenApi openapi(options.versions);
  apiserver::ApiHandler handler({authn, authz, api, health, openapi, registry, metrics, clock});

  std::printf("window: %d pods (2 containers each) in %d namespaces on %d nodes\n", pod_count,
              cluster.namespaces, node_count);
  {
    // What the pre-encoded parts of one window hold on the heap (an EncodedWindow of its own,
    // freed at once; the one the requests below use is the cache's).
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks + EncodedBlockBytes();
    auto start = std::chrono::steady_clock::now();
    auto one = std::make_unique<apiserver::EncodedWindow>(cluster.window);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const size_t held = mallinfo2().uordblks + EncodedBlockBytes() - before;
    std::printf("pre-encoded window: %.1f MiB (%.0f B per pod), encoded in %.0f ms\n",
                static_cast<double>(held) / (1 << 20), static_cast<double>(held) / pod_count, ms);
    // As the server does at every tick: encode the next window while the previous encoding is
    // still held, release that one, return freed pages (malloc_trim).
    std::vector<double> again;
    for (int i = 0; i < 6; ++i) {
      auto t = std::chrono::steady_clock::now();
      auto next = std::make_unique<apiserver::EncodedWindow>(cluster.window);
      again.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      one = std::move(next);
      malloc_trim(0);
    }
    one.reset();
    malloc_trim(0);
    {
      // With the pods' heads, as the encodings that follow the windows have them.
      const size_t before_heads = mallinfo2().uordblks + EncodedBlockBytes();
      const auto t = std::chrono::steady_clock::now();
      auto heads = std::make_unique<apiserver::EncodedWindow>(
          cluster.window, apiserver::EncodedWindow::Heads{&pods, true, true});
      const double heads_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
      const size_t heads_held = mallinfo2().uordblks + EncodedBlockBytes() - before_heads;
      std::printf(
          "pre-encoded window with the pods' heads in both formats (while lists of all pods keep "
          "coming in both): %.1f MiB (%.0f B per pod), encoded in %.0f ms\n",
          static_cast<double>(heads_held) / (1 << 20), static_cast<double>(heads_held) / pod_count,
          heads_ms);
    }
    std::sort(again.begin(), again.end());
    std::printf("pre-encoded window, the next ones (each while the one before is held, then "
                "released and trimmed): median %.0f ms, min %.0f, max %.0f over %zu\n",
                again[again.size() / 2], again.front(), again.back(), again.size());
  }

  // 1. All-pods list.
  const std::string all_pods = "/apis/metrics.k8s.io/v1beta1/pods";
  const std::string json = "application/json, */*";
  const std::string protobuf = "application/vnd.kubernetes.protobuf, */*";
  uint64_t generation = 1;  // of the windows published here (below 10: section 3's)
  for (const auto& [label, accept] :
       {std::pair<const char*, std::string>{"JSON", json}, {"protobuf", protobuf}}) {
    // A fresh window, so the first request pays for pre-encoding it.
    windows.Publish(MakeCluster(pod_count, node_count, clock.Now(), ++generation, &names).window);
    auto t0 = Clock::now();
    HttpResponse first = Serve(handler, all_pods, accept);
    size_t bytes = ReadBody(first);
    double cold = Ms(Clock::now() - t0);
    // `list_iterations` lists: wall and thread CPU times; false on an unexpected status.
    std::vector<double> warm, cpu;
    const std::string& accept_header = accept;  // a structured binding: not capturable in C++20
    auto measure = [&] {
      warm.clear();
      cpu.clear();
      for (int i = 0; i < list_iterations; ++i) {
        auto t = Clock::now();
        double c = ThreadCpuMs();
        HttpResponse r = Serve(handler, all_pods, accept_header);
        ReadBody(r);
        cpu.push_back(ThreadCpuMs() - c);
        warm.push_back(Ms(Clock::now() - t));
        if (r.status != 200) {
          std::fprintf(stderr, "unexpected status %u\n", r.status);
          return false;
        }
      }
      return true;
    };
    if (!measure()) return 1;
    std::printf(
        "list all pods, %-8s: %zu bytes; first request of a new window %.2f ms (includes "
        "pre-encoding); then p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d requests (thread CPU "
        "p50 %.2f ms)\n",
        label, bytes, cold, Percentile(warm, 0.5), Percentile(warm, 0.99),
        *std::max_element(warm.begin(), warm.end()), list_iterations, Percentile(cpu, 0.5));

    // The same lists while lists keep coming: the encodings follow the windows
    // (EncodedWindowCache::EncodeWhileUsed; here on this thread, as the window is published),
    // with the pods' heads in the format listed.
    window::Publication::Subscription follow =
        encoded.EncodeWhileUsed(windows, [](std::function<void()> work) { work(); }, {});
    auto next = MakeCluster(pod_count, node_count, clock.Now(), ++generation, &names).window;
    HttpResponse use = Serve(handler, all_pods, accept);  // a use: the next window is followed
    ReadBody(use);
    const auto publish_start = Clock::now();
    windows.Publish(std::move(next));
    const double encode_ms = Ms(Clock::now() - publish_start);
    follow.Reset();
    if (!measure()) return 1;
    std::printf(
        "list all pods, %-8s, from encodings following the windows (with the %s heads: "
        "encoded in %.0f ms): p50 %.2f ms, p99 %.2f ms over %d requests (thread CPU p50 %.2f "
        "ms)\n",
        label, label, encode_ms, Percentile(warm, 0.5), Percentile(warm, 0.99), list_iterations,
        Percentile(cpu, 0.5));
  }

  // 2. HPA-shaped requests at a fixed rate, one thread.
  auto hpa_target = [&](uint64_t i) {
    int ns = static_cast<int>(i % static_cast<uint64_t>(cluster.namespaces));
    int deployment = static_cast<int>((i / 7) % 15);
    return "/apis/metrics.k8s.io/v1beta1/namespaces/team-" + std::to_string(100 + ns) +
           "/pods?labelSelector=app%3Dservice-" + std::to_string(deployment) +
           "%2Cpod-template-hash%3D7d9f8c6b5";
  };
  {
    HttpResponse probe = Serve(handler, hpa_target(0), protobuf);
    HttpResponse probe_json = Serve(handler, hpa_target(0), json);
    size_t matched = 0;
    for (size_t p = 0; (p = probe_json.body.find("\"containers\"", p)) != std::string::npos; ++p) {
      ++matched;
    }
    std::printf("HPA request: %s -> %u, %zu pods, %zu bytes protobuf\n", hpa_target(0).c_str(),
                probe.status, matched, probe.body.size());
  }
  {
    const auto interval =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / hpa_rate));
    const uint64_t total = static_cast<uint64_t>(hpa_rate * hpa_seconds);
    std::vector<double> latency;
    latency.reserve(total);
    const auto start = Clock::now();
    for (uint64_t i = 0; i < total; ++i) {
      auto scheduled = start + interval * static_cast<int64_t>(i);
      while (Clock::now() < scheduled) {
      }
      HttpResponse r = Serve(handler, hpa_target(i), protobuf);
      latency.push_back(Ms(Clock::now() - scheduled));
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "HPA-shaped, in process, one thread, offered %.0f req/s: achieved %.0f req/s; latency "
        "from scheduled start p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
        hpa_rate, static_cast<double>(total) / elapsed, Percentile(latency, 0.5),
        Percentile(latency, 0.99), Percentile(latency, 0.999),
        *std::max_element(latency.begin(), latency.end()));
    // Closed loop: how many the thread can do back to back.
    const auto t0 = Clock::now();
    const double c0 = ThreadCpuMs();
    uint64_t n = 0;
    while (Clock::now() - t0 < std::chrono::seconds(2)) Serve(handler, hpa_target(n++), protobuf);
    const double cpu_per_request = (ThreadCpuMs() - c0) / static_cast<double>(n);
    std::printf(
        "HPA-shaped, in process, one thread, back to back: %.0f req/s wall; %.1f us thread CPU "
        "per request = %.0f req/s per fully available core\n",
        static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count(),
        cpu_per_request * 1e3, 1e3 / cpu_per_request);
  }

  if (!with_tls) return 0;

  // 3. Over real TLS with keep-alive; the server runs on `server_threads` io threads.
  testing_support::TestPki pki("bench-ca");
  auto files = pki.WriteFiles("serving", pki.ServerCert());
  apiserver::TlsServingOptions tls;
  tls.cert_file = files.cert_file;
  tls.key_file = files.key_file;
  auto certs = apiserver::ServingCertificates::Create(tls, clock);
  if (!certs.ok()) {
    std::fprintf(stderr, "%s\n", certs.error().c_str());
    return 1;
  }
  boost::asio::io_context server_io;
  apiserver::ServerOptions server_options;
  server_options.bind_address = "127.0.0.1";
  server_options.port = 0;
  apiserver::Server server(server_io, server_options, **certs, handler);
  if (auto s = server.Listen(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  server.Start();
  auto server_work = boost::asio::make_work_guard(server_io);
  std::vector<std::thread> server_thread_pool;
  for (int i = 0; i < server_threads; ++i) {
    server_thread_pool.emplace_back([&] { server_io.run(); });
  }
  // As cmd/program.cc does after each published window.
  window::Publication::Subscription prewarm = encoded.EncodeWhileUsed(
      windows, [&](std::function<void()> work) { boost::asio::post(server_io, std::move(work)); },
      [trim] {
        if (trim) malloc_trim(0);
      });

  // CPU time of a thread so far, and of the server's io threads.
  auto thread_cpu_ms = [](std::thread& t) {
    clockid_t id;
    timespec ts{};
    if (pthread_getcpuclockid(t.native_handle(), &id) != 0 || clock_gettime(id, &ts) != 0) {
      return 0.0;
    }
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  auto server_cpu_ms = [&] {
    double ms = 0;
    for (std::thread& t : server_thread_pool) ms += thread_cpu_ms(t);
    return ms;
  };

  boost::asio::io_context client_io;
  auto client_work = boost::asio::make_work_guard(client_io);
  std::thread client_thread([&] { client_io.run(); });
  net::TlsClientConfig client_tls;
  client_tls.ca_file = pki.ca_file();
  auto ctx = net::MakeClientContext(client_tls);
  // Several kept-alive connections, as the aggregator multiplexes many HPAs.
  const int connections = 8;
  std::vector<std::shared_ptr<net::HttpClient>> clients;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(
        net::HttpClient::Create(client_io, *ctx, {true, "127.0.0.1", server.port()}, {}));
  }
  {
    const uint64_t total = static_cast<uint64_t>(hpa_rate * hpa_seconds);
    const auto interval =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / hpa_rate));
    std::mutex mu;
    std::vector<double> latency;
    std::atomic<uint64_t> done{0}, failed{0};
    // Warm up the connections.
    for (auto& c : clients) {
      net::Request req;
      req.target = hpa_target(0);
      (void)c->SendSync(req, std::chrono::seconds(5), 0);
    }
    std::atomic<bool> publishing{publish_every > 0};
    std::atomic<int> published{0};
    std::vector<double> build_ms;
    std::thread publisher([&] {
      uint64_t generation = 10;
      auto next = Clock::now();
      while (publishing.load()) {
        next += std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(publish_every));
        std::this_thread::sleep_until(next);
        if (!publishing.load()) break;
        const auto t = Clock::now();
        auto window = MakeCluster(pod_count, node_count, clock.Now(), ++generation, &names).window;
        build_ms.push_back(Ms(Clock::now() - t));
        windows.Publish(std::move(window));
        published++;
      }
    });
    const double cpu_before = server_cpu_ms();
    const auto start = Clock::now();
    for (uint64_t i = 0; i < total; ++i) {
      auto scheduled = start + interval * static_cast<int64_t>(i);
      std::this_thread::sleep_until(scheduled);
      net::Request req;
      req.target = hpa_target(i);
      req.headers = {{"Accept", protobuf}};
      clients[i % connections]->Send(std::move(req), Clock::now() + std::chrono::seconds(10), 0,
                                     [&, scheduled](base::Result<net::Response> r) {
                                       double ms = Ms(Clock::now() - scheduled);
                                       if (!r.ok() || r->status != 200) failed++;
                                       std::lock_guard<std::mutex> lock(mu);
                                       latency.push_back(ms);
                                       done++;
                                     });
    }
    while (done.load() < total && Clock::now() - start < std::chrono::seconds(60)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu_ms = server_cpu_ms() - cpu_before;
    publishing = false;
    publisher.join();
    std::lock_guard<std::mutex> lock(mu);
    std::printf(
        "HPA-shaped over TLS (keep-alive, %d connections, server on %d io threads), offered %.0f "
        "req/s: completed %zu (%llu failed) at %.0f req/s; latency p50 %.3f ms, p99 %.3f ms, "
        "p99.9 %.3f ms, max %.3f ms (client and server share this machine)\n",
        connections, server_threads, hpa_rate, latency.size(),
        static_cast<unsigned long long>(failed.load()),
        static_cast<double>(latency.size()) / elapsed, Percentile(latency, 0.5),
        Percentile(latency, 0.99), Percentile(latency, 0.999),
        latency.empty() ? 0.0 : *std::max_element(latency.begin(), latency.end()));
    std::printf("  server threads' CPU: %.1f us per request%s\n",
                cpu_ms * 1e3 / static_cast<double>(std::max<size_t>(latency.size(), 1)),
                publish_every > 0 ? " (the windows' pre-encoding and trimming included)" : "");
    if (publish_every > 0) {
      std::printf(
          "  meanwhile %d windows of %d pods published, one every %.1f s (building one took "
          "p50 %.0f ms), each pre-encoded and trimmed on the server's threads\n",
          published.load(), pod_count, publish_every, Percentile(build_ms, 0.5));
    }
  }
  {
    // 4. All-pods lists over the same TLS server, one after another on one kept-alive
    // connection: wall time to the body's last byte, and the CPU the server's threads spent.
    for (const auto& [label, accept] :
         {std::pair<const char*, std::string>{"JSON", json}, {"protobuf", protobuf}}) {
      std::vector<double> wall, cpu, client_cpu;
      size_t bytes = 0;
      for (int i = 0; i <= list_iterations; ++i) {
        net::Request req;
        req.target = all_pods;
        req.headers = {{"Accept", accept}};
        const double c = server_cpu_ms();
        const double cc = thread_cpu_ms(client_thread);
        const auto t = Clock::now();
        base::Result<net::Response> r = clients[0]->SendSync(req, std::chrono::seconds(60), 0);
        const double ms = Ms(Clock::now() - t);
        if (!r.ok() || r->status != 200) {
          std::fprintf(stderr, "list over TLS failed: %s\n",
                       r.ok() ? std::to_string(r->status).c_str() : r.error().c_str());
          return 1;
        }
        bytes = r->body.size();
        if (i == 0) continue;  // the first one may encode the window
        wall.push_back(ms);
        cpu.push_back(server_cpu_ms() - c);
        client_cpu.push_back(thread_cpu_ms(client_thread) - cc);
      }
      std::printf(
          "list all pods over TLS, %-8s: %zu bytes; p50 %.2f ms, min %.2f, max %.2f over %d "
          "requests; server threads' CPU p50 %.2f ms per list, the client's %.2f ms\n",
          label, bytes, Percentile(wall, 0.5), *std::min_element(wall.begin(), wall.end()),
          *std::max_element(wall.begin(), wall.end()), list_iterations, Percentile(cpu, 0.5),
          Percentile(client_cpu, 0.5));
    }
  }
  prewarm.Reset();
  for (auto& c : clients) c->Close();
  clients.clear();
  server.Shutdown([] {});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  client_work.reset();
  client_io.stop();
  client_thread.join();
  server_work.reset();
  server_io.stop();
  for (auto& t : server_thread_pool) t.join();
  return 0;
}
