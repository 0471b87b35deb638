#include "test/system/system_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test/testing/kubelet_payload.h"
#include "test/testing/proc_status.h"

namespace system_test {

using namespace std::chrono_literals;
using testing_support::Reply;

const char* ModeName(KubeletMode mode) {
  switch (mode) {
    case KubeletMode::kHealthy:
      return "healthy";
    case KubeletMode::kHang:
      return "hang";
    case KubeletMode::kTrickle:
      return "trickle";
    case KubeletMode::kHuge:
      return "1GiB-body";
    case KubeletMode::kGarbage:
      return "garbage";
    case KubeletMode::kReset:
      return "reset";
  }
  return "?";
}

// ---- Kubelet ----

Kubelet::Kubelet(std::string node, const testing_support::TestPki& pki, KubeletMode mode)
    : node_(std::move(node)), mode_(mode) {
  testing_support::ServerOptions options;
  options.certificate = pki.ServerCert({"localhost"}, {"127.0.0.1"}, node_);
  options.io_timeout = 600s;  // a hung kubelet holds the connection as long as the client waits
  server_ = std::make_unique<testing_support::LocalHttpsServer>(
      options, [this](const testing_support::SeenRequest&) { return Handle(); });
  port_ = server_->port();
}

Kubelet::~Kubelet() = default;

Reply Kubelet::Handle() {
  ++served_;
  Reply r;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  switch (mode_.load()) {
    case KubeletMode::kHealthy:
      return Reply::Ok(
          testing_support::KubeletPayload(5, 2, now_ms, std::hash<std::string>{}(node_)));
    case KubeletMode::kHang:
      r.delay = 600s;
      return r;
    case KubeletMode::kTrickle:
      r.body = testing_support::KubeletPayload(5, 2, now_ms);
      r.trickle = 200ms;
      r.trickle_bytes = 1;
      return r;
    case KubeletMode::kHuge:
      r.huge_body_bytes = std::size_t{1} << 30;
      return r;
    case KubeletMode::kGarbage: {
      std::string junk;
      uint32_t x = 12345;
      for (int i = 0; i < 4096; ++i)
        junk += static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
      return Reply::Ok(junk);
    }
    case KubeletMode::kReset:
      r.action = Reply::Action::kReset;
      return r;
  }
  return r;
}

// ---- System ----

System::System() = default;

System::~System() {
  if (pid_ > 0) {
    Signal(SIGTERM);
    if (!Wait(10s)) {
      Signal(SIGKILL);
      Wait(10s);
    }
  }
  io_.Stop();
}

Kubelet& System::AddKubelet(const std::string& name, KubeletMode mode,
                            const testing_support::TestPki* pki) {
  kubelets_.push_back(std::make_unique<Kubelet>(name, pki ? *pki : kubelet_pki_, mode));
  apiserver_.UpsertNode(name, {}, kubelets_.back()->port());
  return *kubelets_.back();
}

void System::AddKubelets(int n, const std::string& prefix) {
  for (int i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%02d", prefix.c_str(), i);
    AddKubelet(name);
  }
}

Kubelet& System::kubelet(const std::string& node) {
  for (auto& k : kubelets_) {
    if (k->node() == node) return *k;
  }
  throw std::runtime_error("no kubelet for node " + node);
}

std::vector<std::string> System::node_names() const {
  std::vector<std::string> out;
  for (const auto& k : kubelets_) out.push_back(k->node());
  return out;
}

std::string System::Binary() {
  const char* binary = std::getenv("CMS_SERVER_BINARY");
  return binary == nullptr || *binary == '\0' ? CMS_SERVER_BINARY_PATH : binary;
}

bool System::Start(const std::vector<std::string>& extra, bool wait_ready,
                   std::chrono::seconds timeout) {
  const std::string binary = Binary();
  const auto api = apiserver_.Config();
  const std::string kubeconfig = dir_.Write(
      "kubeconfig.yaml",
      "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://" +
          api.endpoint.HostPort() + "\n    certificate-authority: " + api.tls.ca_file +
          "\nusers:\n- name: fake\n  user:\n    token: " + api.bearer_token +
          "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
          "current-context: fake\n");
  const auto serving_pair = serving_pki_.ServerCert();
  serving_key_pem_ = serving_pair.key_pem;
  const auto serving = serving_pki_.WriteFiles("serving", serving_pair);
  std::vector<std::string> args = {
      binary,
      "--kubeconfig=" + kubeconfig,
      "--secure-port=0",
      "--bind-address=127.0.0.1",
      "--tls-cert-file=" + serving.cert_file,
      "--tls-private-key-file=" + serving.key_file,
      "--client-ca-file=" + client_pki_.ca_file(),
      "--requestheader-client-ca-file=" + proxy_pki_.ca_file(),
      "--requestheader-allowed-names=front-proxy-client",
      "--kubelet-use-node-status-port",
      "--kubelet-preferred-address-types=InternalIP",
      "--kubelet-certificate-authority=" + kubelet_pki_.ca_file(),
      "--metric-resolution=5s",
      "--kubelet-request-timeout=3s",
  };
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  log_file_ = dir_.File("server.log");
  int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    ADD_FAILURE() << "cannot create " << log_file_;
    return false;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // Sockets of the in-process kubelets and fake apiserver must not live on in the child (a
    // kubelet that disappears must refuse connections).
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return false;
  }
  pid_ = pid;
  port_ = 0;

  const auto give_up = std::chrono::steady_clock::now() + timeout;
  const std::regex serving_re(R"(serving metrics\.k8s\.io \S+ on https://\S+:(\d+))");
  while (std::chrono::steady_clock::now() < give_up && port_ == 0) {
    std::smatch m;
    const std::string log = Log();
    if (std::regex_search(log, m, serving_re)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
    if (port_ == 0) {
      if (auto code = Wait(0ms)) {
        ADD_FAILURE() << "server exited with " << *code << " before serving:\n" << Log();
        return false;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  if (port_ == 0) {
    ADD_FAILURE() << "server did not log its port within " << timeout.count() << " s:\n" << Log();
    return false;
  }
  if (!wait_ready) return true;
  bool ready = WaitFor(
      [&] {
        auto r = Get("/readyz", {}, 2s);
        return r.ok() && r->status == 200;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(give_up -
                                                            std::chrono::steady_clock::now()),
      100ms);
  if (!ready) {
    auto r = Get("/readyz?verbose", {}, 2s);
    ADD_FAILURE() << "server not ready within " << timeout.count()
                  << " s: " << (r.ok() ? r->body : r.error()) << "\n"
                  << Log();
  }
  return ready;
}

void System::Signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::optional<int> System::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) {
      pid_ = -1;
      return -1;
    }
    if (std::chrono::steady_clock::now() >= give_up) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

std::string System::Log() const {
  std::ifstream in(log_file_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> System::LogLines(const std::string& needle) const {
  std::vector<std::string> out;
  std::istringstream in(Log());
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

namespace {
// `field` of the server's /proc/<pid>/status in bytes; 0 when unavailable.
uint64_t ProcStatusBytes(pid_t pid, std::string_view field) {
  const long kib = pid > 0 ? testing_support::ProcStatusKiB(field, pid) : -1;
  return kib > 0 ? static_cast<uint64_t>(kib) * 1024 : 0;
}
}  // namespace

uint64_t System::RssBytes() const { return ProcStatusBytes(pid_, "VmRSS"); }
uint64_t System::PeakRssBytes() const { return ProcStatusBytes(pid_, "VmHWM"); }

Credentials System::Admin() const { return ClientCert("admin", {"system:masters"}); }

Credentials System::ClientCert(const std::string& cn, std::vector<std::string> groups) const {
  auto pair = client_pki_.ClientCert(cn, std::move(groups));
  return Credentials{pair.cert_pem, pair.key_pem, "", {}};
}

Credentials System::Proxy(const std::string& cn) const {
  auto pair = proxy_pki_.ClientCert(cn);
  return Credentials{pair.cert_pem, pair.key_pem, "", {}};
}

base::Result<net::Response> System::Get(const std::string& target, const Credentials& who,
                                        std::chrono::milliseconds timeout) {
  net::TlsClientConfig tls;
  tls.ca_file = serving_pki_.ca_file();
  tls.cert_data = who.cert_pem;
  tls.key_data = who.key_pem;
  auto ctx = net::MakeClientContext(tls);
  if (!ctx.ok()) return base::MakeError(ctx.error());
  net::ClientOptions options;
  options.user_agent = "system-test";
  if (!who.bearer_token.empty()) {
    options.token = [t = who.bearer_token] { return t; };
  }
  auto client = net::HttpClient::Create(io_.io, *ctx, net::Endpoint{true, "127.0.0.1", port_},
                                        std::move(options));
  net::Request req;
  req.target = target;
  req.headers = who.headers;
  auto r = client->SendSync(std::move(req), timeout, 64 << 20);
  client->Close();
  return r;
}

base::Result<nlohmann::json> System::NodeMetrics() {
  auto r = Get("/apis/metrics.k8s.io/v1beta1/nodes", Admin());
  if (!r.ok()) return base::MakeError(r.error());
  if (r->status != 200) {
    return base::MakeError("status " + std::to_string(r->status) + ": " + r->body);
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("items")) return base::MakeError("not a list: " + r->body);
  return j["items"];
}

base::Result<std::string> System::SelfMetrics() {
  auto r = Get("/metrics", Admin());
  if (!r.ok()) return base::MakeError(r.error());
  if (r->status != 200) return base::MakeError("status " + std::to_string(r->status));
  return r->body;
}

// ---- observation ----

std::string ServingStats::Summary() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%d polls, %d failed, %d incomplete, %d not ready, max staleness %.2f s", polls,
                failed, incomplete, not_ready, max_staleness);
  return buf;
}

ServingStats Observe(System& sys, const std::vector<std::string>& expected,
                     std::chrono::milliseconds duration, std::chrono::milliseconds every,
                     const std::function<void(double)>& each) {
  ServingStats st;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < duration) {
    if (each) each(SecondsSince(start));
    ++st.polls;
    auto items = sys.NodeMetrics();
    if (!items.ok()) {
      ++st.failed;
      if (st.first_error.empty()) st.first_error = items.error();
    } else {
      std::size_t found = 0;
      for (const auto& item : *items) {
        const std::string name = item["metadata"]["name"];
        if (std::find(expected.begin(), expected.end(), name) == expected.end()) continue;
        ++found;
        st.max_staleness = std::max(st.max_staleness, AgeOf(item["timestamp"]));
      }
      if (found != expected.size()) ++st.incomplete;
    }
    auto ready = sys.Get("/readyz", {}, std::chrono::seconds(5));
    if (!ready.ok() || ready->status != 200) ++st.not_ready;
    std::this_thread::sleep_for(every);
  }
  return st;
}

double SecondsUntilServed(System& sys, const std::string& node, bool present,
                          std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  bool ok = WaitFor(
      [&] {
        auto items = sys.NodeMetrics();
        if (!items.ok()) return false;
        bool found = false;
        for (const auto& item : *items) found = found || item["metadata"]["name"] == node;
        return found == present;
      },
      timeout, std::chrono::milliseconds(100));
  return ok ? SecondsSince(start) : -1;
}

// ---- helpers ----

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double AgeOf(const std::string& rfc3339) {
  std::tm tm{};
  int frac_digits = 0;
  double frac = 0;
  if (std::sscanf(rfc3339.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return 1e9;
  }
  if (auto dot = rfc3339.find('.'); dot != std::string::npos) {
    for (std::size_t i = dot + 1; i < rfc3339.size() && std::isdigit(rfc3339[i]); ++i) {
      frac = frac * 10 + (rfc3339[i] - '0');
      ++frac_digits;
    }
    for (int i = 0; i < frac_digits; ++i) frac /= 10;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const double t = static_cast<double>(timegm(&tm)) + frac;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return now - t;
}

void Figure(const std::string& name, const std::string& text) {
  std::printf("FIGURE %s: %s\n", name.c_str(), text.c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty("figure_" + name, text);
}

}  // namespace system_test
