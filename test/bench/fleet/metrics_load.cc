// metrics_load: an open-loop client for the metrics API of the simulated fleet.
//
//   metrics_load --url=https://127.0.0.1:PORT --ca=FILE --cert=FILE --key=FILE
//                --mode=hpa|list|nodes --accept=json|protobuf --rate=R --duration=SECONDS
//                [--connections=K] [--nodes=N --pods=P]
//
// Send times are scheduled at a fixed rate R (request k at start + k/R) whatever the answers
// do; each request goes to the least busy of K kept-alive TLS connections (net::HttpClient,
// client certificate), and its latency is measured from its scheduled time, so a stalled
// server shows up as latency instead of a lower send rate. `hpa` asks for a random app's pods by
// label (fleet_model.h's HpaPath; needs --nodes and --pods), `list` for all pods, `nodes` for
// all nodes.
//
// Prints one JSON line: mode, accept, offered_rate, sent, ok (status 200), errors (anything
// else, including requests unanswered 30 s after the sending window), up to 5 distinct
// error_samples, p50/p90/p99/max latency in ms over every answered request, achieved_rate (ok
// per second of the sending window), items_min/items_max (items of JSON answers; null for
// protobuf) and bytes_mean (body bytes of ok answers). Exits 0 whatever the answers were, 2 on
// bad flags, 1 when it cannot start.
//
// The process keeps the memory it frees (glibc's mmap and trim thresholds raised to 1 GiB), as
// the heap of a Go client does: otherwise each answer larger than glibc's mmap threshold (an
// all-pods list of 150,000 pods is 64.5 MB) is read into freshly mapped pages, and faulting them
// in took about 50 ms of each such list's latency (api_bench, glibc's defaults against these).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "net/http_client.h"
#include "test/bench/fleet/fleet_model.h"
#include "test/bench/fleet/fleet_util.h"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr auto kRequestTimeout = std::chrono::seconds(30);

// The number of elements of the top-level "items" array of a JSON document, without building
// it; -1 when there is none.
long CountItems(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  std::size_t string_start = 0;
  std::string_view last_key;
  long items = -1;
  bool in_items = false;
  bool expect_element = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\') {
        ++i;
      } else if (ch == '"') {
        in_string = false;
        if (depth == 1) last_key = s.substr(string_start, i - string_start);
      }
      continue;
    }
    if (in_items && depth == 2 && expect_element && ch != ' ' && ch != '\n' && ch != ']') {
      ++items;
      expect_element = false;
    }
    switch (ch) {
      case '"':
        in_string = true;
        string_start = i + 1;
        break;
      case '{':
      case '[':
        ++depth;
        if (ch == '[' && depth == 2 && last_key == "items") {
          in_items = true;
          expect_element = true;
          items = 0;
        }
        break;
      case '}':
      case ']':
        if (in_items && depth == 2) in_items = false;
        --depth;
        break;
      case ',':
        if (in_items && depth == 2) expect_element = true;
        break;
      default:
        break;
    }
  }
  return items;
}

struct Results {
  base::Mutex mu;
  std::vector<double> latencies_ms GUARDED_BY(mu);  // every answered request
  uint64_t ok GUARDED_BY(mu) = 0;
  uint64_t errors GUARDED_BY(mu) = 0;
  std::vector<std::string> error_samples GUARDED_BY(mu);
  long items_min GUARDED_BY(mu) = -1;
  long items_max GUARDED_BY(mu) = -1;
  double bytes GUARDED_BY(mu) = 0;

  void Error(const std::string& what, double latency_ms) {
    base::MutexLock lock(mu);
    ++errors;
    if (latency_ms >= 0) latencies_ms.push_back(latency_ms);
    if (error_samples.size() < 5 &&
        std::find(error_samples.begin(), error_samples.end(), what) == error_samples.end()) {
      error_samples.push_back(what);
    }
  }
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::string url, ca, cert, key, mode = "hpa", accept = "json";
  int64_t rate = 10, duration = 10, connections = 4;
  fleet::FleetSizeFlags size;  // for --mode=hpa: which namespaces and apps exist
  base::FlagSet flags("metrics_load", "Open-loop load on the metrics API (see fleet_model.h).");
  flags.String("url", &url, "https://127.0.0.1:PORT of the server under test.");
  flags.String("ca", &ca, "CA bundle that verifies the server.");
  flags.String("cert", &cert, "Client certificate (PEM).");
  flags.String("key", &key, "Client key (PEM).");
  flags.String("mode", &mode, "hpa | list | nodes.");
  flags.String("accept", &accept, "json | protobuf.");
  flags.Int("rate", &rate, "Offered requests per second.");
  flags.Int("duration", &duration, "Seconds of sending.");
  flags.Int("connections", &connections, "Kept-alive connections.");
  size.Register(flags);
  fleet::ParseFlagsOrExit(flags, argc, argv);

  std::vector<std::string> bad = size.Problems();
  net::Endpoint endpoint;
  std::string prefix;
  {
    const std::string scheme = "https://";
    if (url.rfind(scheme, 0) != 0) {
      bad.push_back("--url must start with https://");
    } else {
      std::string rest = url.substr(scheme.size());
      std::size_t slash = rest.find('/');
      std::string hostport = rest.substr(0, slash);
      if (slash != std::string::npos) prefix = rest.substr(slash);
      while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
      std::size_t colon = hostport.rfind(':');
      endpoint.host = hostport.substr(0, colon);
      if (!endpoint.host.empty() && endpoint.host.front() == '[') {
        endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
      }
      int port = colon == std::string::npos ? 443 : std::atoi(hostport.c_str() + colon + 1);
      if (port <= 0 || port > 65535) bad.push_back("--url has a bad port");
      endpoint.port = static_cast<uint16_t>(port);
      if (endpoint.host != "localhost" && endpoint.host.rfind("127.", 0) != 0 &&
          endpoint.host != "::1") {
        bad.push_back("--url must be a loopback address");
      }
    }
  }
  if (mode != "hpa" && mode != "list" && mode != "nodes") bad.push_back("--mode: hpa|list|nodes");
  if (accept != "json" && accept != "protobuf") bad.push_back("--accept: json|protobuf");
  if (rate < 1) bad.push_back("--rate must be >= 1");
  if (duration < 1) bad.push_back("--duration must be >= 1");
  if (connections < 1) bad.push_back("--connections must be >= 1");
  fleet::FleetModel model(size.Size());
  if (mode == "hpa" && model.apps() < 1) bad.push_back("--mode=hpa needs --nodes and --pods");
  if (!bad.empty()) {
    for (const auto& b : bad) std::fprintf(stderr, "metrics_load: %s\n", b.c_str());
    return 2;
  }

  net::TlsClientConfig tls;
  tls.ca_file = ca;
  tls.cert_file = cert;
  tls.key_file = key;
  auto ctx = net::MakeClientContext(tls);
  if (!ctx.ok()) return std::fprintf(stderr, "metrics_load: %s\n", ctx.error().c_str()), 1;

  asio::io_context io(2);
  std::vector<std::shared_ptr<net::HttpClient>> clients;
  std::vector<std::unique_ptr<std::atomic<int>>> inflight;
  net::ClientOptions options;
  options.user_agent = "metrics_load";
  for (int64_t i = 0; i < connections; ++i) {
    clients.push_back(net::HttpClient::Create(io, *ctx, endpoint, options));
    inflight.push_back(std::make_unique<std::atomic<int>>(0));
  }
  const std::string accept_header =
      accept == "json" ? "application/json" : "application/vnd.kubernetes.protobuf";
  std::mt19937_64 random(1);
  auto next_target = [&]() -> std::string {
    if (mode == "nodes") return prefix + "/apis/metrics.k8s.io/v1beta1/nodes";
    if (mode == "list") return prefix + "/apis/metrics.k8s.io/v1beta1/pods";
    int64_t d = static_cast<int64_t>(random() % static_cast<uint64_t>(model.apps()));
    return prefix + fleet::FleetModel::HpaPath(d);
  };

  Results results;
  std::atomic<uint64_t> outstanding{0};
  std::atomic<uint64_t> sent{0};
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto end = start + std::chrono::seconds(duration);
  const auto interval = std::chrono::duration<double>(1.0 / static_cast<double>(rate));
  const uint64_t total = static_cast<uint64_t>(rate * duration);

  auto send = [&](Clock::time_point scheduled) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < clients.size(); ++i) {
      if (inflight[i]->load() < inflight[best]->load()) best = i;
    }
    inflight[best]->fetch_add(1);
    ++outstanding;
    net::Request req;
    req.target = next_target();
    req.headers.emplace_back("Accept", accept_header);
    clients[best]->Send(
        std::move(req), scheduled + kRequestTimeout, 0,
        [&, best, scheduled](base::Result<net::Response> r) {
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count();
          inflight[best]->fetch_sub(1);
          if (!r.ok()) {
            results.Error(r.error(), ms);
          } else if (r->status != 200) {
            std::string body = r->body.substr(0, 200);
            results.Error("HTTP " + std::to_string(r->status) + ": " + body, ms);
          } else {
            long items = accept == "json" ? CountItems(r->body) : -1;
            base::MutexLock lock(results.mu);
            ++results.ok;
            results.latencies_ms.push_back(ms);
            results.bytes += static_cast<double>(r->body.size());
            if (items >= 0) {
              results.items_min =
                  results.items_min < 0 ? items : std::min(results.items_min, items);
              results.items_max = std::max(results.items_max, items);
            }
          }
          --outstanding;
        });
  };

  // The scheduler: wakes at the next send time and sends everything that is due.
  asio::steady_timer timer(io);
  std::function<void()> tick = [&] {
    auto now = Clock::now();
    while (sent < total) {
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             interval * static_cast<double>(sent.load()));
      if (due > now) break;
      send(due);
      ++sent;
    }
    if (sent >= total) return;
    timer.expires_at(start + std::chrono::duration_cast<Clock::duration>(
                                 interval * static_cast<double>(sent.load())));
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  timer.expires_at(start);
  timer.async_wait([&](boost::system::error_code ec) {
    if (!ec) tick();
  });

  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  // Bounded: the sending window, then at most one request timeout for the stragglers.
  std::this_thread::sleep_until(end);
  auto give_up = Clock::now() + kRequestTimeout + std::chrono::seconds(2);
  while ((outstanding.load() > 0 || sent < total) && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  uint64_t unanswered = outstanding.load();
  for (auto& c : clients) c->Close();
  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();

  base::MutexLock lock(results.mu);
  if (unanswered > 0) {
    results.errors += unanswered;
    results.error_samples.push_back(std::to_string(unanswered) + " requests unanswered");
  }
  std::sort(results.latencies_ms.begin(), results.latencies_ms.end());
  auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
  nlohmann::ordered_json out = {
      {"mode", mode},
      {"accept", accept},
      {"offered_rate", rate},
      {"sent", sent.load()},
      {"ok", results.ok},
      {"errors", results.errors},
      {"error_samples", results.error_samples},
      {"p50_ms", round3(Percentile(results.latencies_ms, 50))},
      {"p90_ms", round3(Percentile(results.latencies_ms, 90))},
      {"p99_ms", round3(Percentile(results.latencies_ms, 99))},
      {"max_ms", round3(results.latencies_ms.empty() ? 0 : results.latencies_ms.back())},
      {"achieved_rate", round3(static_cast<double>(results.ok) / static_cast<double>(duration))},
      {"items_min",
       results.items_min < 0 ? nlohmann::json(nullptr) : nlohmann::json(results.items_min)},
      {"items_max",
       results.items_max < 0 ? nlohmann::json(nullptr) : nlohmann::json(results.items_max)},
      {"bytes_mean", round3(results.ok > 0 ? results.bytes / static_cast<double>(results.ok) : 0)},
  };
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}
