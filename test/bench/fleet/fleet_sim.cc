// fleet_sim: the simulated fleet's kubelets (see fleet_model.h).
//
//   fleet_sim --nodes=N --pods=P --containers=C [--port-base=20000] [--shards=S]
//             --cert-dir=DIR [--ready-file=FILE] [--duration=SECONDS] [--gzip] [--summary]
//             [--protobuf=false] [--go-framing]
//
// Node i's kubelet listens on 127.0.0.1:<port-base + i> and serves GET /metrics/resource over
// TLS (in the delimited protobuf exposition when the Accept header prefers it, as kubelets do;
// else in the text format) (certificate signed by DIR/ca.crt, created with DIR/ca.key when absent,
// IP SAN 127.0.0.1); with --summary also GET /stats/summary (test/testing/summary_payload.h) for
// the same pods and containers, for servers run with --kubelet-summary-api. With --go-framing,
// /metrics/resource answers are framed as a real kubelet's (chunked, in 4 KiB TLS records, one
// write each; testing_support::SimKubelets) instead of one Content-Length body in 16 KiB records.
// DIR also gets a client CA and a client certificate for the servers under test
// (client-ca.crt, client.crt, client.key: CN bench, O system:masters).
//
// S shard processes (default: 2500 nodes each, to stay well under the open-files limit) each
// serve a contiguous range of nodes on one thread; this process supervises them, writes FILE
// once every listener is up, and stops them all on SIGTERM/SIGINT or after --duration. On exit
// it prints one JSON line with the shards' CPU seconds, RSS and response count.
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "net/pki.h"
#include "test/bench/fleet/fleet_model.h"
#include "test/bench/fleet/fleet_util.h"
#include "test/testing/kubelet_payload.h"
#include "test/testing/proc_status.h"
#include "test/testing/sim_kubelet.h"
#include "test/testing/summary_payload.h"

namespace {

namespace asio = boost::asio;

constexpr int kDefaultNodesPerShard = 2500;

// Loads DIR/<name>.crt + .key, or creates them with `make` and writes them.
template <typename Make>
base::Result<net::CertAndKey> LoadOrCreate(const std::string& dir, const std::string& name,
                                           Make make) {
  std::string crt = dir + "/" + name + ".crt", key = dir + "/" + name + ".key";
  if (fleet::FileExists(crt) && fleet::FileExists(key)) {
    auto c = fleet::ReadFile(crt);
    auto k = fleet::ReadFile(key);
    if (!c.ok()) return base::MakeError(c.error());
    if (!k.ok()) return base::MakeError(k.error());
    return net::CertAndKey{*c, *k};
  }
  base::Result<net::CertAndKey> made = make();
  if (!made.ok()) return made;
  if (auto s = fleet::WriteFileAtomic(key, made->key_pem, 0600); !s.ok()) {
    return base::MakeError(s.message());
  }
  if (auto s = fleet::WriteFileAtomic(crt, made->cert_pem); !s.ok()) {
    return base::MakeError(s.message());
  }
  return made;
}

// One shard: node names and per-pod strings for its range, and the renderer.
class Shard {
 public:
  Shard(const fleet::FleetModel& model, int first, int count)
      : model_(model), first_(first), count_(count) {
    const auto& s = model.size();
    for (int c = 0; c < s.containers; ++c)
      containers_.push_back(fleet::FleetModel::ContainerName(c));
    pods_.resize(static_cast<std::size_t>(count) * s.pods);
    for (int i = 0; i < count; ++i) {
      for (int j = 0; j < s.pods; ++j) {
        int64_t g = model.PodIndex(first + i, j);
        pods_[static_cast<std::size_t>(i) * s.pods + j] = {fleet::FleetModel::Namespace(g),
                                                           fleet::FleetModel::PodName(g)};
      }
    }
  }

  void Render(int node, int64_t now_ms, std::string* body) {
    const auto& s = model_.size();
    const double t = static_cast<double>(now_ms) / 1000.0;
    builder_.Clear();
    double memory = 1073741824.0;
    int millicores = 100;
    for (int j = 0; j < s.pods; ++j) {
      const auto& pod = pods_[static_cast<std::size_t>(node - first_) * s.pods + j];
      builder_.AddPod(pod.first, pod.second);
      int64_t g = model_.PodIndex(node, j);
      for (int c = 0; c < s.containers; ++c) {
        double m = fleet::FleetModel::MemoryBytes(g, c, t);
        memory += m;
        millicores += fleet::FleetModel::CpuMillicores(g, c);
        builder_.AddContainer(containers_[c], fleet::FleetModel::CpuSeconds(g, c, t), m,
                              fleet::FleetModel::ContainerStartSeconds(g, c));
      }
    }
    builder_.SetNode(millicores / 1000.0 * (t - fleet::FleetModel::NodeStartSeconds(node)), memory);
    body->reserve(builder_.EstimatedSize());
    builder_.AppendTo(now_ms, body);
  }

  // Node `node`'s /stats/summary body: the same pods and containers as Render()'s.
  void RenderSummary(int node, int64_t now_ms, std::string* body) {
    const auto per_node = static_cast<std::size_t>(model_.size().pods);
    std::span<const std::pair<std::string, std::string>> pods(
        pods_.data() + static_cast<std::size_t>(node - first_) * per_node, per_node);
    *body = testing_support::SummaryPayload(pods, containers_, now_ms);
  }

  int first() const { return first_; }
  int count() const { return count_; }

 private:
  const fleet::FleetModel& model_;
  int first_, count_;
  std::vector<std::string> containers_;
  std::vector<std::pair<std::string, std::string>> pods_;  // namespace, name
  testing_support::KubeletPayloadBuilder builder_;
};

// Runs in the forked child; never returns.
[[noreturn]] void RunShard(const fleet::FleetModel& model, int first, int count, bool gzip,
                           bool protobuf, bool summary, bool go_framing,
                           const net::CertAndKey& serving, int ready_fd, int stats_fd) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  fleet::RaiseOpenFilesLimit();
  auto fail = [ready_fd](const std::string& message) {
    std::string line = "error " + message + "\n";
    (void)!write(ready_fd, line.data(), line.size());
    _exit(1);
  };
  asio::io_context io(1);
  auto tls = testing_support::MakeKubeletServerContext(serving);
  if (!tls.ok()) fail(tls.error());
  Shard shard(model, first, count);
  testing_support::SimKubelets kubelets(
      io, *tls,
      [&shard](int node, int64_t now_ms, std::string* body) { shard.Render(node, now_ms, body); },
      gzip,
      summary ? testing_support::SimKubelets::Render(
                    [&shard](int node, int64_t now_ms, std::string* body) {
                      shard.RenderSummary(node, now_ms, body);
                    })
              : nullptr,
      protobuf, go_framing);
  for (int i = first; i < first + count; ++i) {
    auto port = kubelets.Listen(i, static_cast<uint16_t>(model.KubeletPort(i)));
    if (!port.ok()) fail("node-" + std::to_string(i) + ": " + port.error());
  }
  // Responses are allocated per request and freed once written; give the freed memory back
  // now and then so RSS shows what the shard holds, not the high-water mark of a burst.
  asio::steady_timer trim(io);
  std::function<void()> trim_later = [&] {
    trim.expires_after(std::chrono::seconds(5));
    trim.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      malloc_trim(0);
      trim_later();
    });
  };
  trim_later();
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    kubelets.Close();
    trim.cancel();
    io.stop();
  });
  if (write(ready_fd, "ok\n", 3) != 3) _exit(1);
  close(ready_fd);
  io.run();
  std::string line = std::to_string(kubelets.responses()) + "\n";
  (void)!write(stats_fd, line.data(), line.size());
  _exit(0);
}

struct Child {
  pid_t pid = -1;
  int ready_fd = -1;
  int stats_fd = -1;
  bool exited = false;
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  fleet::FleetSizeFlags size;
  int64_t shards = 0, duration = 0;
  std::string cert_dir, ready_file;
  bool gzip = false, summary = false;
  bool protobuf = true;
  bool go_framing = false;
  base::FlagSet flags("fleet_sim", "Simulated kubelets for the fleet model (see fleet_model.h).");
  size.Register(flags);
  flags.Int("shards", &shards, "Shard processes (0 = one per 2500 nodes).");
  flags.String("cert-dir", &cert_dir, "Directory for ca.crt/ca.key and the client certificate.");
  flags.String("ready-file", &ready_file, "Written once every listener is up.");
  flags.Int("duration", &duration, "Exit after this many seconds (0 = run until signalled).");
  flags.Bool("gzip", &gzip,
             "Gzip bodies (fastest level) for requests with Accept-Encoding: gzip, as kubelets do "
             "for Go clients such as metrics-server. Off by default: it costs the simulator CPU.");
  flags.Bool("protobuf", &protobuf,
             "Serve the delimited protobuf exposition to requests whose Accept header prefers it, "
             "as kubelets do; false serves the text format to every request.");
  flags.Bool("go-framing", &go_framing,
             "Frame /metrics/resource answers as a kubelet's Go HTTP server does: chunked (the "
             "Prometheus handler streams without a Content-Length), in 4 KiB TLS records sent "
             "with one write each.");
  flags.Bool("summary", &summary,
             "Also serve /stats/summary for the same pods (for --kubelet-summary-api), rendered "
             "per request.");
  fleet::ParseFlagsOrExit(flags, argc, argv);
  std::vector<std::string> bad = size.Problems();
  if (size.nodes < 1) bad.push_back("--nodes must be >= 1");
  if (cert_dir.empty()) bad.push_back("--cert-dir is required");
  if (shards < 0) bad.push_back("--shards must be >= 0");
  if (duration < 0) bad.push_back("--duration must be >= 0");
  if (!bad.empty()) {
    for (const auto& b : bad) std::fprintf(stderr, "fleet_sim: %s\n", b.c_str());
    return 2;
  }
  const int64_t nodes = size.nodes;
  if (shards == 0) shards = (nodes + kDefaultNodesPerShard - 1) / kDefaultNodesPerShard;
  shards = std::min(shards, nodes);
  fleet::FleetModel model(size.Size());

  // ---- certificates ----
  auto ca = LoadOrCreate(cert_dir, "ca", [] { return net::MakeCa("fleet-kubelet-ca"); });
  if (!ca.ok()) return std::fprintf(stderr, "fleet_sim: %s\n", ca.error().c_str()), 1;
  auto client_ca =
      LoadOrCreate(cert_dir, "client-ca", [] { return net::MakeCa("fleet-client-ca"); });
  if (!client_ca.ok()) return std::fprintf(stderr, "fleet_sim: %s\n", client_ca.error().c_str()), 1;
  auto client = LoadOrCreate(cert_dir, "client", [&] {
    net::CertificateSpec spec;
    spec.common_name = "bench";
    spec.organizations = {"system:masters"};
    spec.client_auth = true;
    return net::IssueCertificate(spec, *client_ca);
  });
  if (!client.ok()) return std::fprintf(stderr, "fleet_sim: %s\n", client.error().c_str()), 1;
  net::CertificateSpec spec;
  spec.common_name = "fleet-kubelet";
  spec.ip_addresses = {"127.0.0.1"};
  spec.dns_names = {"localhost"};
  spec.server_auth = true;
  auto serving = net::IssueCertificate(spec, *ca);
  if (!serving.ok()) return std::fprintf(stderr, "fleet_sim: %s\n", serving.error().c_str()), 1;

  // ---- shards ----
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  auto start = std::chrono::steady_clock::now();
  std::vector<Child> children;
  for (int64_t s = 0; s < shards; ++s) {
    int first = static_cast<int>(nodes * s / shards);
    int last = static_cast<int>(nodes * (s + 1) / shards);
    int ready[2], stats[2];
    if (pipe(ready) != 0 || pipe(stats) != 0) return std::perror("pipe"), 1;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) return std::perror("fork"), 1;
    if (pid == 0) {
      close(ready[0]);
      close(stats[0]);
      for (const Child& c : children) {
        close(c.ready_fd);
        close(c.stats_fd);
      }
      RunShard(model, first, last - first, gzip, protobuf, summary, go_framing, *serving, ready[1],
               stats[1]);
    }
    close(ready[1]);
    close(stats[1]);
    children.push_back({pid, ready[0], stats[0]});
  }
  int exit_code = 0;
  for (Child& c : children) {
    std::string status = ReadAll(c.ready_fd);
    close(c.ready_fd);
    if (status != "ok\n") {
      std::fprintf(stderr, "fleet_sim: shard %d failed to start: %s\n", static_cast<int>(c.pid),
                   status.empty() ? "exited\n" : status.c_str());
      exit_code = 1;
    }
  }
  double startup = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (exit_code == 0) {
    std::fprintf(
        stderr, "fleet_sim: %lld kubelets on 127.0.0.1:%lld-%lld in %lld shards, ready in %.1f s\n",
        static_cast<long long>(nodes), static_cast<long long>(size.port_base),
        static_cast<long long>(size.port_base + nodes - 1), static_cast<long long>(shards),
        startup);
    if (!ready_file.empty()) {
      if (auto s = fleet::WriteFileAtomic(ready_file, "ready\n"); !s.ok()) {
        std::fprintf(stderr, "fleet_sim: %s\n", s.message().c_str());
        exit_code = 1;
      }
    }
  }

  // ---- wait for a stop signal, the deadline or a dead shard ----
  auto deadline = start + std::chrono::seconds(duration);
  while (exit_code == 0) {
    timespec wait{1, 0};
    if (duration > 0) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::seconds(0)) break;
      if (left < std::chrono::seconds(1)) {
        wait = {0, static_cast<long>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(left).count())};
      }
    }
    int sig = sigtimedwait(&stop_signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGCHLD) {
      int status = 0;
      pid_t dead = waitpid(-1, &status, WNOHANG);
      if (dead > 0) {
        std::fprintf(stderr, "fleet_sim: shard %d died (status %d)\n", static_cast<int>(dead),
                     status);
        for (Child& c : children) c.exited = c.exited || c.pid == dead;
        exit_code = 1;
      }
    }
  }

  // ---- stop the shards and report their cost ----
  long rss_kib = 0;
  for (const Child& c : children) {
    if (!c.exited) rss_kib += std::max(0L, testing_support::ProcStatusKiB("VmRSS", c.pid));
  }
  for (const Child& c : children) {
    if (!c.exited) kill(c.pid, SIGTERM);
  }
  double cpu = 0;
  long peak_kib = 0;
  uint64_t responses = 0;
  for (Child& c : children) {
    std::string stats = ReadAll(c.stats_fd);
    close(c.stats_fd);
    responses += std::strtoull(stats.c_str(), nullptr, 10);
    if (c.exited) continue;
    int status = 0;
    rusage usage{};
    if (wait4(c.pid, &status, 0, &usage) == c.pid) {
      cpu += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
             static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
      peak_kib += usage.ru_maxrss;
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"fleet_sim\":{\"nodes\":%lld,\"pods\":%lld,\"containers\":%lld,\"shards\":%lld,"
      "\"wall_seconds\":%.1f,\"startup_seconds\":%.2f,\"cpu_seconds\":%.2f,\"rss_mib\":%.1f,"
      "\"peak_rss_mib\":%.1f,\"responses\":%llu,\"cpu_us_per_response\":%.1f}}\n",
      static_cast<long long>(nodes), static_cast<long long>(size.pods),
      static_cast<long long>(size.containers), static_cast<long long>(shards), wall, startup, cpu,
      rss_kib / 1024.0, peak_kib / 1024.0, static_cast<unsigned long long>(responses),
      responses > 0 ? cpu * 1e6 / static_cast<double>(responses) : 0.0);
  std::fflush(stdout);
  return exit_code;
}
