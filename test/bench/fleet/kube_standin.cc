// kube_standin: a local stand-in for the kube-apiserver holding the simulated fleet's inventory
// (see fleet_model.h): the fake kube-apiserver of the kube tests plus a main.
//
//   kube_standin --nodes=N --pods=P --containers=C [--port-base=20000] --port=PORT --out-dir=DIR
//                [--ready-file=FILE] [--client-ca=FILE]
//
// Serves https://127.0.0.1:PORT: N Ready nodes (InternalIP 127.0.0.1, kubelet port
// port-base+i) and N*P Running pods (full Pod objects; PartialObjectMetadata when asked) with
// paged lists, watches and field selectors, the kube-system/extension-apiserver-authentication
// ConfigMap (request-header settings with a throw-away front-proxy CA, and --client-ca as its
// client-ca-file), TokenReview, SubjectAccessReview (always allowed) and /version; watches with
// sendInitialEvents (client-go's watch-list) as well as list+watch. Writes DIR/ca.crt and
// DIR/kubeconfig (server, CA, bearer token), then FILE once everything is loaded; exits on
// SIGTERM/SIGINT.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "net/pki.h"
#include "test/bench/fleet/fleet_model.h"
#include "test/bench/fleet/fleet_util.h"
#include "test/kube/fake_kube_apiserver.h"
#include "test/testing/proc_status.h"

namespace {

using fleet::FleetModel;
using nlohmann::json;

std::string Rfc3339(double unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

json NodeObject(const FleetModel& model, int i) {
  std::string name = FleetModel::NodeName(i);
  std::string created = Rfc3339(FleetModel::NodeStartSeconds(i));
  return {{"kind", "Node"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", name},
            {"uid", FleetModel::NodeUid(i)},
            {"creationTimestamp", created},
            {"labels",
             {{"kubernetes.io/hostname", name},
              {"kubernetes.io/os", "linux"},
              {"kubernetes.io/arch", "amd64"},
              {"node.kubernetes.io/instance-type", "fleet-64"}}}}},
          {"spec", {{"providerID", "fleet://" + name}}},
          {"status",
           {{"capacity",
             {{"cpu", "64"},
              {"memory", "263921288Ki"},
              {"pods", "110"},
              {"ephemeral-storage", "507944172Ki"}}},
            {"allocatable",
             {{"cpu", "63800m"},
              {"memory", "262872712Ki"},
              {"pods", "110"},
              {"ephemeral-storage", "468125181028"}}},
            {"conditions", json::array({{{"type", "Ready"},
                                         {"status", "True"},
                                         {"reason", "KubeletReady"},
                                         {"message", "kubelet is posting ready status"},
                                         {"lastHeartbeatTime", created},
                                         {"lastTransitionTime", created}}})},
            {"addresses", json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                                       {{"type", "Hostname"}, {"address", name}}})},
            {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", model.KubeletPort(i)}}}}},
            {"nodeInfo",
             {{"machineID", ""},
              {"systemUUID", ""},
              {"bootID", ""},
              {"kernelVersion", "6.1.0"},
              {"osImage", "fleet"},
              {"containerRuntimeVersion", "containerd://2.1.0"},
              {"kubeletVersion", "v1.36.3"},
              {"operatingSystem", "linux"},
              {"architecture", "amd64"}}}}}};
}

json PodObject(const FleetModel& model, int64_t g) {
  const auto& size = model.size();
  int64_t d = FleetModel::App(g);
  std::string app = FleetModel::AppName(d);
  std::string created = Rfc3339(fleet::kEpoch - 21 * 86400.0);
  json containers = json::array(), statuses = json::array();
  for (int c = 0; c < size.containers; ++c) {
    std::string name = FleetModel::ContainerName(c);
    int cpu_request = (FleetModel::CpuMillicores(g, c) + 49) / 50 * 50;
    int memory_request = static_cast<int>(FleetModel::MemoryBaseBytes(g, c) / 1048576.0);
    containers.push_back({{"name", name},
                          {"image", "registry.example/" + name + ":1.0"},
                          {"resources",
                           {{"requests",
                             {{"cpu", std::to_string(cpu_request) + "m"},
                              {"memory", std::to_string(memory_request) + "Mi"}}}}},
                          {"terminationMessagePath", "/dev/termination-log"},
                          {"imagePullPolicy", "IfNotPresent"}});
    statuses.push_back(
        {{"name", name},
         {"ready", true},
         {"started", true},
         {"restartCount", 0},
         {"image", "registry.example/" + name + ":1.0"},
         {"imageID", "registry.example/" + name + "@sha256:0"},
         {"containerID", "containerd://" + FleetModel::PodUid(g) + "-" + std::to_string(c)},
         {"state",
          {{"running", {{"startedAt", Rfc3339(FleetModel::ContainerStartSeconds(g, c))}}}}}});
  }
  char ip[32];
  std::snprintf(ip, sizeof ip, "10.%d.%d.%d", static_cast<int>((g >> 16) & 255),
                static_cast<int>((g >> 8) & 255), static_cast<int>(g & 255));
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", FleetModel::PodName(g)},
            {"namespace", FleetModel::Namespace(g)},
            {"uid", FleetModel::PodUid(g)},
            {"creationTimestamp", created},
            {"generateName", app + "-" + fleet::kTemplateHash + "-"},
            {"labels", {{"app", app}, {"pod-template-hash", fleet::kTemplateHash}}},
            {"ownerReferences",
             json::array({{{"apiVersion", "apps/v1"},
                           {"kind", "ReplicaSet"},
                           {"name", app + "-" + fleet::kTemplateHash},
                           {"uid", "52000000-0000-4000-8000-" + std::to_string(100000000000 + d)},
                           {"controller", true},
                           {"blockOwnerDeletion", true}}})}}},
          {"spec",
           {{"nodeName", FleetModel::NodeName(model.PodNode(g))},
            {"containers", containers},
            {"restartPolicy", "Always"},
            {"schedulerName", "default-scheduler"},
            {"serviceAccountName", "default"},
            {"terminationGracePeriodSeconds", 30}}},
          {"status",
           {{"phase", "Running"},
            {"hostIP", "127.0.0.1"},
            {"podIP", ip},
            {"startTime", created},
            {"qosClass", "Burstable"},
            {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}},
                                        {{"type", "ContainersReady"}, {"status", "True"}}})},
            {"containerStatuses", statuses}}}};
}

}  // namespace

int main(int argc, char** argv) {
  fleet::FleetSizeFlags size;
  int64_t port = 0;
  std::string out_dir, ready_file, client_ca;
  base::FlagSet flags("kube_standin",
                      "A local kube-apiserver stand-in with the fleet model's nodes and pods.");
  size.Register(flags);
  flags.Int("port", &port, "Port to serve on (127.0.0.1).");
  flags.String("out-dir", &out_dir, "Where to write ca.crt and kubeconfig.");
  flags.String("ready-file", &ready_file, "Written once everything is loaded.");
  flags.String("client-ca", &client_ca,
               "PEM file published as the authentication ConfigMap's client-ca-file (optional).");
  fleet::ParseFlagsOrExit(flags, argc, argv);
  std::vector<std::string> bad = size.Problems();
  if (port < 1 || port > 65535) bad.push_back("--port must be between 1 and 65535");
  if (out_dir.empty()) bad.push_back("--out-dir is required");
  if (!bad.empty()) {
    for (const auto& b : bad) std::fprintf(stderr, "kube_standin: %s\n", b.c_str());
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);  // before the server thread starts

  auto start = std::chrono::steady_clock::now();
  FleetModel model(size.Size());
  kube::fake::FakeKubeApiserver::Options options;
  options.port = static_cast<uint16_t>(port);
  options.record_requests = false;
  std::unique_ptr<kube::fake::FakeKubeApiserver> fake;
  try {
    fake = std::make_unique<kube::fake::FakeKubeApiserver>(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kube_standin: %s\n", e.what());
    return 1;
  }
  fake->SetSarPolicy([](const json&) {
    return json{{"allowed", true}, {"reason", "kube_standin allows everything"}};
  });
  // As a kube-apiserver publishes it: a front-proxy CA and the request-header settings.
  auto front_proxy_ca = net::MakeCa("fleet-front-proxy-ca");
  if (!front_proxy_ca.ok()) {
    return std::fprintf(stderr, "kube_standin: %s\n", front_proxy_ca.error().c_str()), 1;
  }
  json auth = {{"requestheader-client-ca-file", front_proxy_ca->cert_pem},
               {"requestheader-allowed-names", R"(["front-proxy-client"])"},
               {"requestheader-username-headers", R"(["X-Remote-User"])"},
               {"requestheader-group-headers", R"(["X-Remote-Group"])"},
               {"requestheader-extra-headers-prefix", R"(["X-Remote-Extra-"])"}};
  if (!client_ca.empty()) {
    auto pem = fleet::ReadFile(client_ca);
    if (!pem.ok()) return std::fprintf(stderr, "kube_standin: %s\n", pem.error().c_str()), 1;
    auth["client-ca-file"] = *pem;
  }
  fake->SetAuthConfigMap(auth);

  // Two loaders, each building and rendering every other batch of 5000 objects.
  auto load = [&](int part) {
    constexpr int64_t kBatch = 5000;
    for (int64_t first = part * kBatch; first < size.nodes; first += 2 * kBatch) {
      std::vector<json> batch;
      for (int64_t i = first; i < std::min<int64_t>(size.nodes, first + kBatch); ++i) {
        batch.push_back(NodeObject(model, static_cast<int>(i)));
      }
      fake->BulkAdd("nodes", std::move(batch));
    }
    for (int64_t first = part * kBatch; first < model.total_pods(); first += 2 * kBatch) {
      std::vector<json> batch;
      for (int64_t g = first; g < std::min(model.total_pods(), first + kBatch); ++g) {
        batch.push_back(PodObject(model, g));
      }
      fake->BulkAdd("pods", std::move(batch));
    }
  };
  std::thread second(load, 1);
  load(0);
  second.join();

  const std::string ca_pem = fake->pki().ca().cert_pem;
  std::string kubeconfig =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: "
      "https://127.0.0.1:" +
      std::to_string(port) + "\n    certificate-authority-data: " + fleet::Base64(ca_pem) +
      "\nusers:\n- name: standin\n  user:\n    token: " + kube::fake::FakeKubeApiserver::kToken +
      "\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n"
      "current-context: standin\n";
  for (auto [path, data, mode] : {std::tuple{out_dir + "/ca.crt", ca_pem, 0644},
                                  std::tuple{out_dir + "/kubeconfig", kubeconfig, 0600}}) {
    if (auto s = fleet::WriteFileAtomic(path, data, mode); !s.ok()) {
      return std::fprintf(stderr, "kube_standin: %s\n", s.message().c_str()), 1;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "kube_standin: https://127.0.0.1:%lld serving %zu nodes and %zu pods; loaded in "
               "%.1f s (%.1f s of CPU), RSS %.0f MiB\n",
               static_cast<long long>(port), fake->size("nodes"), fake->size("pods"), seconds,
               CpuSeconds(), testing_support::ProcStatusKiB("VmRSS") / 1024.0);
  if (!ready_file.empty()) {
    if (auto s = fleet::WriteFileAtomic(ready_file, "ready\n"); !s.ok()) {
      return std::fprintf(stderr, "kube_standin: %s\n", s.message().c_str()), 1;
    }
  }
  int sig = 0;
  sigwait(&stop, &sig);
  fake.reset();
  return 0;
}
