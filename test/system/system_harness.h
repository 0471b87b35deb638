// Whole-system test harness: the real cpp-metrics-server binary as a child process, wired to an
// in-process FakeKubeApiserver and in-process simulated kubelets on real local TLS, and a client
// that talks to the server the way kubectl and the HPA do (client certificate, bearer token via
// TokenReview, front proxy with X-Remote-* headers).
//
// The binary is the build's cpp-metrics-server (compiled in), or $CMS_SERVER_BINARY when set.
// Every test in test/system uses this one harness:
//
//   System sys;                             // PKIs, fake apiserver, kubelets and temp files
//   sys.AddKubelets(20);                    // node-00..node-19 served by healthy kubelets
//   sys.Start({"--metric-resolution=5s"});  // spawns the binary, waits until /readyz is 200
//   auto r = sys.Get("/apis/metrics.k8s.io/v1beta1/nodes", sys.Admin());
//   sys.Log();                              // everything the server wrote so far
//   // ~System: SIGTERM, then SIGKILL after 10 s, waitpid; temp files removed.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL), so a crashed test leaves no server behind.
//
// Thread-safety: System is meant for the test body's thread; Get() may be called from several
// threads at once (each call has its own connection). Kubelet::Set may be called any time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "net/http_client.h"
#include "test/kube/fake_kube_apiserver.h"
#include "test/testing/io_threads.h"
#include "test/testing/local_https_server.h"
#include "test/testing/temp_dir.h"
#include "test/testing/test_pki.h"
#include "test/testing/wait.h"

namespace system_test {

// Whether the binaries were built with AddressSanitizer or ThreadSanitizer (scripts/sanitizers.sh):
// they run several times slower, and ASan keeps freed memory in quarantine (256 MiB by default),
// so time and memory bounds get the slack stated where they are checked.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// What a simulated kubelet does with each /metrics/resource request.
enum class KubeletMode {
  kHealthy,  // a real-looking payload whose samples carry the current wall time
  kHang,     // accepts the request and never answers (within the test)
  kTrickle,  // a 200 whose body arrives one byte every 200 ms
  kHuge,     // a 200 with a 1 GiB body
  kGarbage,  // a 200 with bytes that are not Prometheus text
  kReset,    // resets the connection (RST) without answering
};
const char* ModeName(KubeletMode mode);

// One node's kubelet on 127.0.0.1:<port>, TLS with a certificate from `pki` (the kubelet CA the
// server trusts, or another CA for the wrong-certificate fault).
class Kubelet {
 public:
  Kubelet(std::string node, const testing_support::TestPki& pki, KubeletMode mode);
  ~Kubelet();
  const std::string& node() const { return node_; }
  uint16_t port() const { return port_; }  // still known after Disappear()
  void Set(KubeletMode mode) { mode_ = mode; }
  // Stops listening (the port then refuses connections): the node's machine went away.
  void Disappear() { server_.reset(); }
  std::size_t requests() const { return served_.load(); }

 private:
  testing_support::Reply Handle();
  std::string node_;
  std::atomic<KubeletMode> mode_;
  std::atomic<std::size_t> served_{0};
  std::unique_ptr<testing_support::LocalHttpsServer> server_;
  uint16_t port_ = 0;
};

// How a request authenticates.
struct Credentials {
  std::string cert_pem, key_pem;                             // client certificate, optional
  std::string bearer_token;                                  // optional
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
};

class System {
 public:
  System();
  ~System();
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  // The server binary: $CMS_SERVER_BINARY, else the build's.
  static std::string Binary();

  kube::fake::FakeKubeApiserver& apiserver() { return apiserver_; }
  const testing_support::TestPki& client_ca() const { return client_pki_; }
  const testing_support::TestPki& proxy_ca() const { return proxy_pki_; }
  const testing_support::TestPki& kubelet_ca() const { return kubelet_pki_; }
  const testing_support::TempDir& dir() const { return dir_; }

  // Adds node `name` with a kubelet in `mode` (its certificate from `pki`, default the kubelet
  // CA the server trusts); returns it.
  Kubelet& AddKubelet(const std::string& name, KubeletMode mode = KubeletMode::kHealthy,
                      const testing_support::TestPki* pki = nullptr);
  // Adds healthy nodes "<prefix>00".."<prefix>NN".
  void AddKubelets(int n, const std::string& prefix = "node-");
  Kubelet& kubelet(const std::string& node);
  std::vector<std::string> node_names() const;

  // Spawns the server with the harness's flags followed by `extra` (later flags win) and waits
  // until it logs its port and /readyz answers 200 (`wait_ready`), at most `timeout`.
  // Fails the calling test (ADD_FAILURE) and returns false when it does not.
  bool Start(const std::vector<std::string>& extra = {}, bool wait_ready = true,
             std::chrono::seconds timeout = std::chrono::seconds(30));
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  // Sends `signal`; Wait() reaps the child and returns its exit code (128+n if killed by signal
  // n), or nullopt if it is still running after `timeout`.
  void Signal(int signal);
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }

  // Everything the server wrote to stdout and stderr so far.
  std::string Log() const;
  // Log lines containing `needle`.
  std::vector<std::string> LogLines(const std::string& needle) const;
  // Resident set size of the server now / at its peak, from /proc (bytes; 0 if gone).
  uint64_t RssBytes() const;
  uint64_t PeakRssBytes() const;

  // Credentials of ready-made clients: "admin" (CN=admin, O=system:masters: allowed without a
  // SubjectAccessReview), "alice" (the fake's SAR allows her), a front proxy
  // (CN=front-proxy-client, signed by the request-header CA).
  Credentials Admin() const;
  Credentials ClientCert(const std::string& cn, std::vector<std::string> groups = {}) const;
  Credentials Proxy(const std::string& cn = "front-proxy-client") const;
  // The server's serving private key (PEM), for checks that it never appears in the log.
  const std::string& ServingKeyPem() const { return serving_key_pem_; }

  // One request on a fresh connection (verifying the server against the serving CA).
  base::Result<net::Response> Get(const std::string& target, const Credentials& who,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // GET /apis/metrics.k8s.io/v1beta1/nodes as admin; the parsed items, or an error.
  base::Result<nlohmann::json> NodeMetrics();
  // The server's /metrics (as admin).
  base::Result<std::string> SelfMetrics();

 private:
  void Reap(int status);

  testing_support::TempDir dir_;
  testing_support::TestPki serving_pki_{"serving-ca"};
  testing_support::TestPki client_pki_{"client-ca"};
  testing_support::TestPki proxy_pki_{"front-proxy-ca"};
  testing_support::TestPki kubelet_pki_{"kubelet-ca"};
  kube::fake::FakeKubeApiserver apiserver_;
  std::vector<std::unique_ptr<Kubelet>> kubelets_;
  std::string log_file_;
  std::string serving_key_pem_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  testing_support::IoThreads io_{2};  // the clients' connections
};

// What a client saw while polling the server (NodeMetrics as admin, and /readyz).
struct ServingStats {
  int polls = 0;
  int failed = 0;            // NodeMetrics not answered 200 with a list
  int incomplete = 0;        // a node of `expected` missing from the list
  int not_ready = 0;         // /readyz not 200
  double max_staleness = 0;  // seconds, newest sample of any expected node
  std::string first_error;
  std::string Summary() const;  // "N polls, F failed, I incomplete, R not ready, max staleness S s"
};
// Polls every `every` for `duration`; `each` (optional) runs before every poll with the seconds
// elapsed.
ServingStats Observe(System& sys, const std::vector<std::string>& expected,
                     std::chrono::milliseconds duration,
                     std::chrono::milliseconds every = std::chrono::milliseconds(500),
                     const std::function<void(double)>& each = nullptr);
// Seconds until `node` is served (`present`) or no longer served (!present); -1 on timeout.
double SecondsUntilServed(System& sys, const std::string& node, bool present,
                          std::chrono::milliseconds timeout);

// Poll helpers for test bodies (and WaitFor, from test/testing/wait.h: the system tests poll
// the server every 50 or 100 ms, not the default 5).
using testing_support::WaitFor;
double SecondsSince(std::chrono::steady_clock::time_point t);
// Seconds between now (wall clock) and an RFC 3339 timestamp such as "2026-01-01T00:00:05Z".
double AgeOf(const std::string& rfc3339);
// Prints "FIGURE <name>: <text>" on its own line (and to the test's record).
void Figure(const std::string& name, const std::string& text);

}  // namespace system_test
