// Benchmark of watch fan-out (not a test; prints figures).
//
// N nodes × P pods per node in the window and the caches, W watchers on the WatchHub
// (apiserver/watch.h), each pulling its stream as a connection does (Next, then Next again once
// the chunk is "written", here: its bytes counted). Watchers: 10 % every pod, 80 % one namespace
// each (namespaces of ~30 pods), 10 % every node. Every pod's and node's usage changes in each
// window, so every object is MODIFIED each time (the worst case; metrics change every window).
// Prints, per published window: the hub's CPU (process CPU time while the hub works, with the
// consumers idle), the delay from Publish() to the last watcher's chunk, the bytes delivered;
// and the RSS with the watchers idle minus without them, per watcher.
//
// Connections are not included: a watch over TLS also holds its connection's TLS state and
// socket buffers (see the README's figures).
//
// Usage: watch_bench [nodes=1000] [pods_per_node=30] [watchers=1000] [windows=5] [threads=2]
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/watch.h"
#include "base/clock.h"
#include "test/testing/proc_status.h"
#include "window/publication.h"

namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A connection's side of one watch: pulls chunks and counts their bytes.
class Consumer : public std::enable_shared_from_this<Consumer> {
 public:
  explicit Consumer(std::shared_ptr<apiserver::ResponseStream> stream)
      : stream_(std::move(stream)) {}
  void Pull() {
    stream_->Next([self = shared_from_this()](apiserver::StreamChunk chunk) {
      if (chunk.end) return;
      size_t n = 0;
      for (auto p : chunk.parts) n += p.size();
      self->bytes.fetch_add(n);
      self->chunks.fetch_add(1);
      self->last_chunk_ns.store(Clock::now().time_since_epoch().count());
      self->Pull();
    });
  }
  void Cancel() { stream_->Cancel(); }
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> chunks{0};
  std::atomic<int64_t> last_chunk_ns{0};

 private:
  std::shared_ptr<apiserver::ResponseStream> stream_;
};

}  // namespace

int main(int argc, char** argv) {
  const int nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int pods_per_node = argc > 2 ? std::atoi(argv[2]) : 30;
  const int watchers = argc > 3 ? std::atoi(argv[3]) : 1000;
  const int windows = argc > 4 ? std::atoi(argv[4]) : 5;
  const int threads = argc > 5 ? std::atoi(argv[5]) : 2;

  kube::NodeCache node_cache;
  kube::PodCache pod_cache;
  std::vector<kube::Node> cached_nodes;
  std::vector<kube::Pod> cached_pods;
  const int namespaces = nodes;  // ~pods_per_node pods per namespace
  for (int n = 0; n < nodes; ++n) {
    kube::Node node;
    node.name = "node-" + std::to_string(100000 + n);
    node.labels = {{"kubernetes.io/hostname", node.name}, {"kubernetes.io/os", "linux"}};
    cached_nodes.push_back(node);
  }
  for (int i = 0; i < nodes * pods_per_node; ++i) {
    kube::Pod pod;
    pod.namespace_ = "ns-" + std::to_string(10000 + i % namespaces);
    pod.name = "pod-" + std::to_string(1000000 + i);
    pod.labels = {{"app", "app-" + std::to_string(i % 50)}, {"tier", "backend"}};
    cached_pods.push_back(pod);
  }
  node_cache.Replace(cached_nodes);
  pod_cache.Replace(cached_pods);

  auto make_window = [&](uint64_t generation) {
    std::vector<window::NodeMetrics> ns;
    const base::UnixNanos ts =
        1736430339'000'000'000LL + static_cast<int64_t>(generation) * 15'000'000'000LL;
    for (const auto& n : cached_nodes) {
      ns.push_back(
          {n.name, ts, std::chrono::seconds(15), 100000000 + generation * 1000, 1ull << 30});
    }
    std::vector<window::PodInput> ps;
    for (const auto& p : cached_pods) {
      window::PodInput m;
      m.namespace_ = p.namespace_;
      m.name = p.name;
      m.timestamp = ts;
      m.window = std::chrono::seconds(15);
      m.containers = {{"app", 1000000 + generation, 64ull << 20}, {"sidecar", 200000, 16ull << 20}};
      ps.push_back(std::move(m));
    }
    std::sort(ns.begin(), ns.end(), [](auto& a, auto& b) { return a.name < b.name; });
    std::sort(ps.begin(), ps.end(), [](auto& a, auto& b) {
      return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
    });
    return std::make_shared<window::Window>(generation, std::move(ns), std::move(ps));
  };

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&] { io.run(); });

  window::Publication publication;
  base::SystemClock clock;
  apiserver::WatchOptions options;
  options.max_watches = static_cast<uint32_t>(watchers) + 1;
  uint64_t generation = 1;
  publication.Publish(make_window(generation));
  const long rss_before = testing_support::ProcStatusKiB("VmRSS");

  std::vector<std::shared_ptr<Consumer>> consumers;
  {
    apiserver::WatchHub hub(io, publication, node_cache, pod_cache, clock, options);
    for (int i = 0; i < watchers; ++i) {
      apiserver::WatchRequest r;
      r.version = "v1beta1";
      r.resource_version = generation;  // from a list: no initial events
      if (i % 10 == 0) {
        r.kind = apiserver::Kind::kPod;
      } else if (i % 10 == 1) {
        r.kind = apiserver::Kind::kNode;
      } else {
        r.kind = apiserver::Kind::kPod;
        r.namespace_ = "ns-" + std::to_string(10000 + (i * 7919) % namespaces);
      }
      apiserver::HttpResponse response = hub.Watch(std::move(r));
      auto c = std::make_shared<Consumer>(response.stream);
      c->Pull();
      consumers.push_back(std::move(c));
    }
    // Let the hub register them (and build its snapshot of the current window).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long rss_idle = testing_support::ProcStatusKiB("VmRSS");
    std::printf(
        "nodes %d, pods %d, watchers %d (10%% all pods, 80%% one namespace, 10%% nodes), "
        "%d io threads\n",
        nodes, nodes * pods_per_node, watchers, threads);
    std::printf(
        "RSS: %ld KiB before the watchers, %ld KiB with them idle: %.1f KiB per idle "
        "watcher (with the hub's snapshot of the window)\n",
        rss_before, rss_idle, static_cast<double>(rss_idle - rss_before) / std::max(1, watchers));

    for (int w = 0; w < windows; ++w) {
      auto next = make_window(++generation);
      uint64_t chunks_before = 0, bytes_before = 0;
      for (auto& c : consumers) {
        chunks_before += c->chunks.load();
        bytes_before += c->bytes.load();
      }
      const double cpu0 = CpuSeconds();
      const auto t0 = Clock::now();
      publication.Publish(std::move(next));
      // Wait until every watcher got a chunk of this window.
      for (;;) {
        uint64_t chunks = 0;
        for (auto& c : consumers) chunks += c->chunks.load();
        if (chunks >= chunks_before + static_cast<uint64_t>(watchers)) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      const double cpu = CpuSeconds() - cpu0;
      int64_t last = 0;
      uint64_t bytes = 0;
      for (auto& c : consumers) {
        last = std::max(last, c->last_chunk_ns.load());
        bytes += c->bytes.load();
      }
      const double delay_ms = static_cast<double>(last - t0.time_since_epoch().count()) / 1e6;
      std::printf(
          "window %llu: CPU %.1f ms (%.1f us per watcher), publish -> last watcher's "
          "chunk %.1f ms, %.1f MiB delivered (shared buffers), RSS %ld KiB\n",
          static_cast<unsigned long long>(generation), cpu * 1000,
          cpu * 1e6 / std::max(1, watchers), delay_ms,
          static_cast<double>(bytes - bytes_before) / (1 << 20),
          testing_support::ProcStatusKiB("VmRSS"));
    }
    std::printf("peak RSS (VmHWM) %ld KiB\n", testing_support::ProcStatusKiB("VmHWM"));
    for (auto& c : consumers) c->Cancel();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  work.reset();
  io.stop();
  for (auto& t : pool) t.join();
  return 0;
}
