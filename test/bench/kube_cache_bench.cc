// Benchmark of the Kubernetes-API library: memory per cached pod and node, lookup cost at
// 150,000 pods, and list+sync time of the pod informer for 100,000 pod metadata objects served
// by the local fake kube-apiserver over TLS; and the cost per pod of --heapster-pod-resources:
// the PodResourcesCache, the exporter::Resources snapshot built from it, and the list+sync of
// full pods narrowed to their requests and limits. Prints numbers; asserts nothing.
//
// Usage: kube_cache_bench [pods=150000] [sync_pods=100000] [resources_pods=pods,sync_pods]
#include <malloc.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "cmd/pod_resources.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/decode.h"
#include "kube/informer.h"
#include "test/kube/fake_kube_apiserver.h"

namespace {

using Clock = std::chrono::steady_clock;

std::size_t HeapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Pods come in groups of this many with the same labels, as the pods of a ReplicaSet have:
// the cache keeps one buffer per distinct set.
constexpr std::size_t kPodsPerLabelSet = 10;

kube::Pod MakePod(std::size_t i, std::size_t labels) {
  kube::Pod p;
  p.namespace_ = "ns-" + std::to_string(i % 100);
  p.name = "web-" + std::to_string(i) + "-7d9f8b6c5d-x2k4q";  // ~25 chars, like a ReplicaSet pod
  const std::size_t set = i / kPodsPerLabelSet;
  kube::Labels::Builder builder;
  for (std::size_t l = 0; l < labels; ++l) {
    // label-0 takes 10 values (a selector on it matches a tenth of the pods); the others one
    // per set, as a pod-template-hash.
    builder.Set("app.kubernetes.io/label-" + std::to_string(l),
                "value-" + std::to_string(l == 0 ? set % 10 : set));
  }
  p.labels = builder.Build();
  return p;
}

std::size_t LabelsBytes(std::size_t n, std::size_t labels) {
  // Heap used by the label maps alone, measured the same way.
  std::size_t before = HeapInUse();
  std::vector<kube::Labels> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(MakePod(i, labels).labels);
  std::size_t with = HeapInUse();
  std::size_t vector_bytes = v.capacity() * sizeof(kube::Labels);
  (void)before;
  return with - before - vector_bytes;
}

void PodMemory(std::size_t n, std::size_t labels) {
  std::size_t before = HeapInUse();
  kube::PodCache cache;
  {
    std::vector<kube::Pod> pods;
    pods.reserve(n);
    for (std::size_t i = 0; i < n; ++i) pods.push_back(MakePod(i, labels));
    cache.Replace(std::move(pods));
  }
  std::size_t after = HeapInUse();
  double per_pod = static_cast<double>(after - before) / static_cast<double>(n);
  double label_part = labels ? static_cast<double>(LabelsBytes(n, labels)) / n : 0.0;
  std::printf(
      "pod cache: %zu pods, %zu labels each, one set per %zu pods: %.0f bytes/pod total "
      "(the labels of one pod alone, unshared: %.0f bytes)\n",
      n, labels, kPodsPerLabelSet, per_pod, label_part);

  // Lookups at this size.
  auto sel = kube::LabelSelector::Parse(labels ? "app.kubernetes.io/label-0=value-3" : "").value();
  auto t0 = Clock::now();
  std::size_t found = 0;
  for (std::size_t i = 0; i < 100000; ++i) {
    std::size_t k = (i * 7919) % n;
    found += cache.Get("ns-" + std::to_string(k % 100), MakePod(k, 0).name) != nullptr;
  }
  auto t1 = Clock::now();
  std::size_t listed = 0;
  for (int i = 0; i < 100; ++i) listed += cache.List("ns-" + std::to_string(i), sel).size();
  auto t2 = Clock::now();
  auto all = cache.List("", sel);
  auto t3 = Clock::now();
  std::printf(
      "  Get: %.2f us each (%zu found); List(namespace, selector): %.1f us each (%zu pods); "
      "List(all, selector): %.1f ms (%zu pods)\n",
      Ms(t1 - t0) * 1000 / 100000, found, Ms(t2 - t1) * 1000 / 100, listed / 100, Ms(t3 - t2),
      all.size());
}

void NodeMemory(std::size_t n) {
  std::size_t before = HeapInUse();
  kube::NodeCache cache;
  {
    std::vector<kube::Node> nodes;
    for (std::size_t i = 0; i < n; ++i) {
      kube::Node node;
      node.name =
          "ip-10-0-" + std::to_string(i / 256) + "-" + std::to_string(i % 256) + ".ec2.internal";
      node.labels = {{"kubernetes.io/hostname", node.name},
                     {"kubernetes.io/os", "linux"},
                     {"kubernetes.io/arch", "amd64"},
                     {"node.kubernetes.io/instance-type", "m5.xlarge"},
                     {"topology.kubernetes.io/zone", "us-east-1a"}};
      node.addresses = {{"InternalIP", "10.0.0." + std::to_string(i % 256)},
                        {"Hostname", node.name},
                        {"InternalDNS", node.name}};
      node.kubelet_port = 10250;
      node.allocatable_cpu_millicores = 3920;
      node.allocatable_memory_bytes = 15ll << 30;
      nodes.push_back(std::move(node));
    }
    cache.Replace(std::move(nodes));
  }
  std::size_t after = HeapInUse();
  std::printf("node cache: %zu nodes (5 labels, 3 addresses): %.0f bytes/node\n", n,
              static_cast<double>(after - before) / static_cast<double>(n));
}

void ListAndSync(std::size_t n) {
  kube::fake::FakeKubeApiserver fake;
  fake.BulkAddPods(n, 100, 3);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  {
    auto client = kube::ApiClient::Create(io, fake.Config()).value();
    kube::PodCache cache;
    kube::InformerOptions options;  // page size 500, as client-go's pager
    std::size_t heap_before = HeapInUse();
    auto start = Clock::now();
    auto informer = kube::NewPodInformer(*client, cache, base::SystemClock::Instance(), options);
    informer->Start();
    bool synced = kube::WaitForCacheSync({informer.get()}, std::chrono::minutes(5));
    auto elapsed = Clock::now() - start;
    auto stats = informer->Stats();
    std::printf(
        "informer list+sync: %zu pod metadata objects in %zu pages over TLS: %.0f ms (%s); "
        "cache heap after sync: %.0f bytes/pod (3 labels)\n",
        cache.Size(), static_cast<std::size_t>(stats.list_pages), Ms(elapsed),
        synced ? "synced" : "NOT synced",
        static_cast<double>(HeapInUse() - heap_before) / static_cast<double>(n));
    // Client-side decode cost alone, on one page as the server sends it.
    std::string page =
        R"({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[)";
    for (int i = 0; i < 500; ++i) {
      if (i) page += ",";
      page +=
          R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"pod-)" +
          std::to_string(i) +
          R"(-7d9f8b6c5d-x2k4q","namespace":"ns-1","uid":"0b9f3c2e-5d1a-4f7b-9e8c-100000000000","resourceVersion":"1","labels":{"label-0":"value-1","label-1":"value-2","label-2":"value-3"}}})";
    }
    page += "]}";
    auto d0 = Clock::now();
    for (int r = 0; r < 20; ++r) {
      auto decoded = kube::DecodePodMetadataList(page);
      if (!decoded.ok()) std::printf("decode failed: %s\n", decoded.error().c_str());
    }
    auto d1 = Clock::now();
    std::printf("  of which client decode: %.2f us per pod (%zu-byte page of 500)\n",
                Ms(d1 - d0) * 1000 / (20 * 500), page.size());
    informer->Stop();
  }
  work.reset();
  io.stop();
  t.join();
}

// A pod as a Deployment with a sidecar makes it: two containers with requests and limits.
kube::PodResources MakePodResources(std::size_t i) {
  kube::PodResources p;
  p.namespace_ = "ns-" + std::to_string(i % 100);
  p.name = "web-" + std::to_string(i) + "-7d9f8b6c5d-x2k4q";
  p.node_name = "ip-10-0-" + std::to_string(i / 30 / 256) + "-" + std::to_string(i / 30 % 256) +
                ".ec2.internal";  // 30 pods per node
  p.containers = {{"app", 500, 1000, 256 << 20, 512 << 20},
                  {"istio-proxy", 100, 2000, 128 << 20, 1 << 30}};
  return p;
}

nlohmann::json FullPod(const kube::PodResources& p) {
  nlohmann::json containers = nlohmann::json::array();
  for (const auto& c : p.containers) {
    containers.push_back({{"name", c.name},
                          {"image", "registry.example.com/team/" + c.name + ":1.2.3"},
                          {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}},
                          {"resources",
                           {{"requests",
                             {{"cpu", std::to_string(c.cpu_request_millicores) + "m"},
                              {"memory", std::to_string(c.memory_request_bytes >> 20) + "Mi"}}},
                            {"limits",
                             {{"cpu", std::to_string(c.cpu_limit_millicores) + "m"},
                              {"memory", std::to_string(c.memory_limit_bytes >> 20) + "Mi"}}}}}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", p.name},
            {"namespace", p.namespace_},
            {"uid", "0b9f3c2e-5d1a-4f7b-9e8c-100000000000"},
            {"labels", {{"app", "web"}, {"pod-template-hash", "7d9f8b6c5d"}}}}},
          {"spec", {{"nodeName", p.node_name}, {"containers", containers}}},
          {"status", {{"phase", "Running"}, {"podIP", "10.1.2.3"}}}};
}

void PodResourcesMemory(std::size_t n) {
  std::size_t before = HeapInUse();
  kube::PodResourcesCache cache;
  {
    std::vector<kube::PodResources> pods;
    pods.reserve(n);
    for (std::size_t i = 0; i < n; ++i) pods.push_back(MakePodResources(i));
    cache.Replace(std::move(pods));
  }
  std::size_t cached = HeapInUse();
  kube::NodeCache nodes;  // empty: the nodes' part is measured by NodeMemory
  auto t0 = Clock::now();
  auto snapshot = std::make_shared<const exporter::Resources>(cmd::ToResources(cache, nodes));
  auto t1 = Clock::now();
  std::size_t with_snapshot = HeapInUse();
  std::printf(
      "pod resources (--heapster-pod-resources): %zu pods, 2 containers each: cache %.0f "
      "bytes/pod, exporter::Resources snapshot %.0f bytes/pod (built in %.1f ms, once per "
      "window when a pod changed)\n",
      n, static_cast<double>(cached - before) / static_cast<double>(n),
      static_cast<double>(with_snapshot - cached) / static_cast<double>(n), Ms(t1 - t0));
}

void PodResourcesListAndSync(std::size_t n) {
  kube::fake::FakeKubeApiserver fake;
  {
    std::vector<nlohmann::json> objects;
    objects.reserve(n);
    for (std::size_t i = 0; i < n; ++i) objects.push_back(FullPod(MakePodResources(i)));
    fake.BulkAdd("pods", std::move(objects));
  }
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  {
    auto client = kube::ApiClient::Create(io, fake.Config()).value();
    kube::PodResourcesCache cache;
    std::size_t heap_before = HeapInUse();
    auto start = Clock::now();
    auto informer = kube::NewPodResourcesInformer(*client, cache, base::SystemClock::Instance());
    informer->Start();
    bool synced = kube::WaitForCacheSync({informer.get()}, std::chrono::minutes(5));
    auto elapsed = Clock::now() - start;
    std::printf(
        "pod resources informer list+sync: %zu full pods (2 containers) in %zu pages over TLS: "
        "%.0f ms (%s); heap after sync: %.0f bytes/pod\n",
        cache.Size(), static_cast<std::size_t>(informer->Stats().list_pages), Ms(elapsed),
        synced ? "synced" : "NOT synced",
        static_cast<double>(HeapInUse() - heap_before) / static_cast<double>(n));
    informer->Stop();
  }
  work.reset();
  io.stop();
  t.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t pods = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 150000;
  std::size_t sync_pods = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100000;
  PodMemory(pods, 0);
  PodMemory(pods, 3);
  NodeMemory(5000);
  ListAndSync(sync_pods);
  PodResourcesMemory(argc > 3 ? std::strtoul(argv[3], nullptr, 10) : pods);
  PodResourcesListAndSync(argc > 3 ? std::strtoul(argv[3], nullptr, 10) : sync_pods);
  return 0;
}
