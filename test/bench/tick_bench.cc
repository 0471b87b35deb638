// One full scrape tick against many simulated kubelets served locally over TLS. Prints the
// scraper's CPU time per node per tick and its memory per node; not a test.
//
//   build/test/bench/tick_bench [nodes=1000] [pods-per-node=30] [containers-per-pod=2]
//                               [steady-ticks=5] [max-concurrency=64] [io-threads=2]
//                               [summary=0] [protobuf=0] [go-framing=0]
// summary=1: the kubelets also serve /stats/summary (test/testing/summary_payload.h) and the
// scraper reads it (--kubelet-summary-api), for its cost per node per tick.
// protobuf=1: the scraper asks for the delimited protobuf exposition
// (--kubelet-request-protobuf), which the kubelets then serve, and the offline figure parses
// that form.
// go-framing=1: the kubelets frame /metrics/resource as a real kubelet does (chunked, written in
// 4 KiB records; testing_support::SimKubelets), instead of one Content-Length body in records of
// up to 16 KiB.
//
// The kubelets run in a forked child process (testing_support::SimKubelets: one io_context, one
// listening port per kubelet on 127.0.0.1, TLS with an ECDSA P-256 certificate from a throw-away
// CA, keep-alive, a fresh payload with current timestamps per request), so the figures below are
// the scraper's own: getrusage(RUSAGE_SELF) and /proc/self/status of the parent only.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/pki.h"
#include "scraper/kubelet_client_impl.h"
#include "scraper/manager.h"
#include "scraper/options.h"
#include "test/testing/exposition_protobuf.h"
#include "test/testing/fake_nodes.h"
#include "test/testing/kubelet_payload.h"
#include "test/testing/proc_status.h"
#include "test/testing/sim_kubelet.h"
#include "test/testing/summary_payload.h"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct Config {
  int nodes = 1000;
  int pods = 30;
  int containers = 2;
  int steady_ticks = 5;
  int concurrency = 64;
  int io_threads = 2;
  bool summary = false;
  bool protobuf = false;
  bool go_framing = false;
};

// ---- the simulated kubelets (child process) ----

[[noreturn]] void RunKubelets(const Config& config, const net::CertAndKey& cert, int port_pipe) {
  asio::io_context io(1);
  auto tls = testing_support::MakeKubeletServerContext(cert);
  if (!tls.ok()) _exit(2);
  testing_support::SimKubelets kubelets(
      io, *tls,
      [&config](int node, int64_t now_ms, std::string* body) {
        *body = testing_support::KubeletPayload(config.pods, config.containers, now_ms,
                                                static_cast<uint32_t>(node + 1));
      },
      /*gzip=*/false,
      config.summary
          ? testing_support::SimKubelets::Render([&config](int, int64_t now_ms, std::string* body) {
              *body = testing_support::SummaryPayload(config.pods, config.containers, now_ms);
            })
          : nullptr,
      /*protobuf=*/true, config.go_framing);
  std::vector<uint16_t> ports;
  for (int i = 0; i < config.nodes; ++i) {
    auto port = kubelets.Listen(i, 0);
    if (!port.ok()) _exit(2);
    ports.push_back(*port);
  }
  ssize_t n = write(port_pipe, ports.data(), ports.size() * sizeof(uint16_t));
  close(port_pipe);
  if (n != static_cast<ssize_t>(ports.size() * sizeof(uint16_t))) _exit(2);
  io.run();
  _exit(0);
}

// ---- the scraper (parent process) ----

double SysSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  if (argc > 1) config.nodes = std::atoi(argv[1]);
  if (argc > 2) config.pods = std::atoi(argv[2]);
  if (argc > 3) config.containers = std::atoi(argv[3]);
  if (argc > 4) config.steady_ticks = std::atoi(argv[4]);
  if (argc > 5) config.concurrency = std::atoi(argv[5]);
  if (argc > 6) config.io_threads = std::atoi(argv[6]);
  if (argc > 7) config.summary = std::atoi(argv[7]) != 0;
  if (argc > 8) config.protobuf = std::atoi(argv[8]) != 0;
  if (argc > 9) config.go_framing = std::atoi(argv[9]) != 0;

  auto ca = net::MakeCa("bench-ca");
  if (!ca.ok()) return std::fprintf(stderr, "%s\n", ca.error().c_str()), 1;
  net::CertificateSpec spec;
  spec.common_name = "kubelet";
  spec.ip_addresses = {"127.0.0.1"};
  spec.server_auth = true;
  auto cert = net::IssueCertificate(spec, *ca);
  if (!cert.ok()) return std::fprintf(stderr, "%s\n", cert.error().c_str()), 1;
  char ca_path[] = "/tmp/tick-bench-ca-XXXXXX";
  int ca_fd = mkstemp(ca_path);
  if (ca_fd < 0 || write(ca_fd, ca->cert_pem.data(), ca->cert_pem.size()) < 0) return 1;
  close(ca_fd);

  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    RunKubelets(config, *cert, pipe_fds[1]);
  }
  close(pipe_fds[1]);
  std::vector<uint16_t> ports(config.nodes);
  size_t want = ports.size() * sizeof(uint16_t), got = 0;
  while (got < want) {
    ssize_t n = read(pipe_fds[0], reinterpret_cast<char*>(ports.data()) + got, want - got);
    if (n <= 0) return std::fprintf(stderr, "simulator failed to start\n"), 1;
    got += static_cast<size_t>(n);
  }
  close(pipe_fds[0]);

  testing_support::FakeNodes nodes;
  for (int i = 0; i < config.nodes; ++i) {
    kube::Node n = testing_support::NodeAt("node-" + std::to_string(i), "127.0.0.1", ports[i]);
    n.addresses.push_back({"Hostname", n.name});
    nodes.Add(std::move(n));
  }
  malloc_trim(0);
  long rss_base = testing_support::ProcStatusKiB("VmRSS");

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < config.io_threads; ++i) threads.emplace_back([&io] { io.run(); });

  scraper::Options options;
  options.kubelet_certificate_authority = ca_path;
  options.kubelet_use_node_status_port = true;
  options.kubelet_preferred_address_types = {"InternalIP"};
  options.kubelet_max_concurrency = config.concurrency;
  options.metric_resolution = std::chrono::seconds(15);
  options.kubelet_request_timeout = std::chrono::seconds(10);
  options.kubelet_summary_api = config.summary;
  options.kubelet_request_protobuf = config.protobuf;
  auto client = scraper::KubeletClientImpl::Create(io, scraper::MakeKubeletClientSettings(options));
  if (!client.ok()) return std::fprintf(stderr, "%s\n", client.error().c_str()), 1;
  window::Publication windows;
  scraper::Store store(scraper::MakeStoreSettings(options), windows);
  auto settings = scraper::MakeManagerSettings(options);
  settings->spread = false;  // one tick as fast as the concurrency allows
  scraper::Manager manager(io, base::SystemClock::Instance(), nodes, **client, store, *settings);

  std::printf(
      "%d simulated kubelets, %d pods x %d containers each, concurrency %d, %d io threads%s%s%s\n",
      config.nodes, config.pods, config.containers, config.concurrency, config.io_threads,
      config.summary ? ", with /stats/summary" : "",
      config.protobuf ? ", protobuf exposition" : ", text exposition",
      config.go_framing ? ", framed as Go's net/http frames it (chunked, 4 KiB records)" : "");
  int exit_code = 0;
  double steady_cpu = 0, steady_wall = 0, steady_sys = 0;
  for (int t = 0; t <= config.steady_ticks; ++t) {
    double cpu0 = CpuSeconds();
    double sys0 = SysSeconds();
    auto wall0 = std::chrono::steady_clock::now();
    if (!testing_support::RunTick(manager, std::chrono::seconds(120))) {
      std::fprintf(stderr, "tick timed out\n");
      exit_code = 1;
      break;
    }
    double cpu = CpuSeconds() - cpu0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    auto report = manager.LastReport();
    std::printf("tick %d%s: %zu ok, %zu failed, wall %.3f s, CPU %.3f s = %.1f us per node\n", t,
                t == 0 ? " (cold: TLS handshakes)" : "", report->succeeded, report->failed, wall,
                cpu, cpu * 1e6 / config.nodes);
    const scraper::NodeOutcome* summary_failed = nullptr;
    size_t summary_errors = 0;
    for (const auto& o : report->nodes) {
      if (o.summary_error.empty()) continue;
      if (summary_errors++ == 0) summary_failed = &o;
    }
    if (summary_failed != nullptr) {
      std::printf("  %zu summary errors, first: %s: %s\n", summary_errors,
                  summary_failed->node.c_str(), summary_failed->summary_error.c_str());
      exit_code = 1;
    }
    if (report->failed > 0) {
      for (const auto& o : report->nodes) {
        if (!o.success) {
          std::printf("  first failure: %s: %s\n", o.node.c_str(), o.error.c_str());
          break;
        }
      }
      exit_code = 1;
    }
    if (t > 0) {
      steady_sys += SysSeconds() - sys0;
      steady_cpu += cpu;
      steady_wall += wall;
    }
  }
  auto stats = store.Stats();
  auto window = windows.Current();
  long rss = testing_support::ProcStatusKiB("VmRSS");
  long hwm = testing_support::ProcStatusKiB("VmHWM");
  malloc_trim(0);
  long rss_trimmed = testing_support::ProcStatusKiB("VmRSS");
  if (config.steady_ticks > 0) {
    std::printf(
        "steady state: CPU %.1f us per node per tick (%.1f us of it in the kernel; mean of %d "
        "ticks, wall %.3f s)\n",
        steady_cpu * 1e6 / config.nodes / config.steady_ticks,
        steady_sys * 1e6 / config.nodes / config.steady_ticks, config.steady_ticks,
        steady_wall / config.steady_ticks);
  }
  std::printf("window: %zu nodes, %zu pods, %zu containers served\n", window->nodes().size(),
              window->pods().size(), stats.servable_containers);
  std::printf(
      "memory: baseline RSS %ld KiB; after ticks RSS %ld KiB (%.1f KiB per node), "
      "after malloc_trim %ld KiB (%.1f KiB per node); peak RSS %ld KiB (%.1f KiB per node "
      "above baseline)\n",
      rss_base, rss, static_cast<double>(rss - rss_base) / config.nodes, rss_trimmed,
      static_cast<double>(rss_trimmed - rss_base) / config.nodes, hwm,
      static_cast<double>(hwm - rss_base) / config.nodes);
  {
    // What the process holds, without what the allocator keeps free: steadier than the RSS.
    const struct mallinfo2 mi = mallinfo2();
    const double in_use = static_cast<double>(mi.uordblks + mi.hblkhd) / 1024;
    std::printf("heap in use after the ticks: %.0f KiB (%.1f KiB per node)\n", in_use,
                in_use / config.nodes);
  }
  std::printf("connections held: %zu\n", (*client)->connections());
  // Split the figure: close every kubelet connection and look again; what remains is the
  // store, the published window and the process's fixed overhead.
  (*client)->Retain({});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  malloc_trim(0);
  long rss_closed = testing_support::ProcStatusKiB("VmRSS");
  std::printf(
      "without connections (after malloc_trim): RSS %ld KiB (%.1f KiB per node); so "
      "%.1f KiB per node for its kept-alive TLS connection\n",
      rss_closed, static_cast<double>(rss_closed - rss_base) / config.nodes,
      static_cast<double>(rss_trimmed - rss_closed) / config.nodes);

  // The scraper's own share, without any network: parse every node's payload and merge it
  // into a store, then publish, for two ticks (the second is measured).
  {
    std::vector<std::string> bodies[2];
    for (int t = 0; t < 2; ++t) {
      for (int i = 0; i < config.nodes; ++i) {
        std::string text = testing_support::KubeletPayload(config.pods, config.containers,
                                                           1'700'000'000'000 + t * 15'000,
                                                           static_cast<uint32_t>(i + 1));
        if (config.protobuf) {
          std::string delimited;
          if (!testing_support::AppendAsDelimitedProtobuf(text, &delimited)) return 1;
          text = std::move(delimited);
        }
        bodies[t].push_back(std::move(text));
      }
    }
    window::Publication offline_windows;
    scraper::Store offline(scraper::MakeStoreSettings(options), offline_windows);
    scraper::ResourceMetrics metrics;
    const auto node_list = nodes.Nodes();
    double cpu = 0;
    for (int t = 0; t < 2; ++t) {
      double cpu0 = CpuSeconds();
      auto& tick = offline.BeginTick();
      for (int i = 0; i < config.nodes; ++i) {
        const base::Status parsed =
            config.protobuf ? scraper::ParseResourceMetricsProtobuf(bodies[t][i], 1, &metrics)
                            : scraper::ParseResourceMetrics(bodies[t][i], 1, &metrics);
        if (!parsed.ok()) return 1;
        tick.Success(node_list[i]->name, metrics);
      }
      offline.Publish();
      cpu = CpuSeconds() - cpu0;
    }
    std::printf(
        "without the network (parse + store + publish only): CPU %.1f us per node per "
        "tick; the rest of the steady-state figure is TLS, HTTP, Asio and the kernel\n",
        cpu * 1e6 / config.nodes);
  }

  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  unlink(ca_path);
  return exit_code;
}
