// SIGTERM with requests in flight: slow ones (held by a SubjectAccessReview that the fake
// kube-apiserver answers after 2 s) and a stream of fast ones from several threads. Every request
// the server accepted gets a complete 200; connections after the signal are refused (the client
// sees a connect or handshake failure, never a request cut off after it was sent); the process
// exits 0 within the shutdown timeout.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;

// The request reached the server and was then lost (as opposed to never being accepted).
bool Dropped(const std::string& error) {
  return error.find(": connect:") == std::string::npos &&
         error.find(": handshake:") == std::string::npos;
}

TEST(Shutdown, SigtermWithRequestsInFlightDropsNone) {
  constexpr int kSlow = 8;  // the server's SAR pool has 4 connections: two rounds of 2 s
  constexpr int kFastThreads = 4;
  System sys;
  sys.AddKubelets(3);
  sys.apiserver().SetSarPolicy([](const nlohmann::json& spec) {
    bool allowed = spec.value("user", "").rfind("slow-", 0) == 0;
    return nlohmann::json{{"allowed", allowed}, {"reason", "test"}};
  });
  ASSERT_TRUE(sys.Start({"--shutdown-timeout=20s"}));
  sys.apiserver().SetReviewDelay(2000ms);
  const int reviews_before = sys.apiserver().access_reviews();

  std::mutex mu;
  int slow_ok = 0, fast_ok = 0, refused = 0, dropped = 0, bad_status = 0;
  std::vector<std::string> drops;
  auto record = [&](const base::Result<net::Response>& r, int& ok_counter) {
    std::lock_guard lock(mu);
    if (r.ok()) {
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (r->status == 200 && !j.is_discarded() && j.contains("items")) {
        ++ok_counter;
      } else {
        ++bad_status;
        drops.push_back("status " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
      }
    } else if (Dropped(r.error())) {
      ++dropped;
      drops.push_back(r.error());
    } else {
      ++refused;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kSlow; ++i) {
    threads.emplace_back([&, i] {
      record(sys.Get("/apis/metrics.k8s.io/v1beta1/nodes",
                     sys.ClientCert("slow-" + std::to_string(i)), 30s),
             slow_ok);
    });
  }
  ASSERT_TRUE(
      WaitFor([&] { return sys.apiserver().access_reviews() - reviews_before >= 4; }, 10s, 50ms));
  std::atomic<bool> stop{false};
  std::atomic<double> last_fast_ok_after_signal{-1};
  std::atomic<bool> signalled{false};
  std::chrono::steady_clock::time_point signal_at;
  for (int i = 0; i < kFastThreads; ++i) {
    threads.emplace_back([&] {
      const auto admin = sys.Admin();
      while (!stop) {
        auto r = sys.Get("/apis/metrics.k8s.io/v1beta1/nodes", admin, 10s);
        record(r, fast_ok);
        if (r.ok() && signalled) last_fast_ok_after_signal = SecondsSince(signal_at);
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  signal_at = std::chrono::steady_clock::now();
  signalled = true;
  sys.Signal(SIGTERM);
  auto code = sys.Wait(25s);
  const double exit_after = SecondsSince(signal_at);
  stop = true;
  for (auto& t : threads) t.join();

  ASSERT_TRUE(code.has_value()) << "still running 25 s after SIGTERM";
  EXPECT_EQ(*code, 0) << sys.Log();
  EXPECT_EQ(slow_ok, kSlow);
  EXPECT_EQ(dropped, 0) << ::testing::PrintToString(drops);
  EXPECT_EQ(bad_status, 0) << ::testing::PrintToString(drops);
  EXPECT_GT(refused, 0);  // the fast clients kept trying after the listener closed
  EXPECT_LT(exit_after, 20.0);
  EXPECT_THAT(sys.Log(), ::testing::HasSubstr("all requests finished; exiting"));

  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%d slow requests in flight (SAR answered after 2 s, 4 at a time) + %d threads of "
                "fast requests: %d/%d slow and %d fast got complete 200s, %d dropped, %d other "
                "statuses; %d new connections refused after the signal (last fast 200 at "
                "%.2f s); exit code %d after %.2f s (shutdown timeout 20 s)",
                kSlow, kFastThreads, slow_ok, kSlow, fast_ok, dropped, bad_status, refused,
                last_fast_ok_after_signal.load(), *code, exit_after);
  Figure("sigterm_in_flight", buf);
}

// A socket listening on 127.0.0.1 with SO_REUSEPORT (what another server started with
// --permit-port-sharing holds), on a port the kernel picks; closed with the object.
class PortHolder {
 public:
  PortHolder() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot hold a port: " << std::strerror(errno);
    }
    port_ = ntohs(addr.sin_port);
  }
  ~PortHolder() { Close(); }
  PortHolder(const PortHolder&) = delete;
  PortHolder& operator=(const PortHolder&) = delete;
  uint16_t port() const { return port_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// --permit-port-sharing (the host-network overlay's rolling upgrade: two pods on one port), with
// another server listening on the port: the new server binds at start but listens only once it
// has metrics, so the kernel gives it no connection it would answer without them; it then
// serves every node.
TEST(PortSharing, BesideAnotherServerListensOnceItHasMetrics) {
  System sys;
  sys.AddKubelets(2);
  PortHolder other;
  const auto start = std::chrono::steady_clock::now();
  // Not waiting for /readyz while `other` listens: the kernel would give it some of the probes.
  ASSERT_TRUE(sys.Start({"--permit-port-sharing", "--secure-port=" + std::to_string(other.port())},
                        /*wait_ready=*/false));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  other.Close();
  EXPECT_EQ(sys.LogLines("port sharing: listening with the first metrics").size(), 1u)
      << sys.Log();
  EXPECT_EQ(sys.port(), other.port());
  auto nodes = sys.NodeMetrics();
  ASSERT_TRUE(nodes.ok()) << nodes.error();
  EXPECT_EQ(nodes->size(), 2u);
  std::printf(
      "FIGURE port sharing beside another server: listening %.1f s after the start "
      "(resolution 5 s)\n",
      seconds);
}

// --permit-port-sharing with nothing else on the port (a first install, a restart after a
// crash): the server listens at once, so the API's discovery is answered before the first
// window (the aggregator would otherwise retry it with a growing back-off after the window).
TEST(PortSharing, AloneListensAtOnce) {
  System sys;
  sys.AddKubelets(2);
  // Port 0: a port of the kernel's choosing, which nothing else can be listening on. (The probe
  // that tells whether another server listens is tested in ServerTest, server_integration_test.)
  ASSERT_TRUE(sys.Start({"--permit-port-sharing"}, /*wait_ready=*/false));
  EXPECT_EQ(sys.LogLines("port sharing: no other server listens on port " +
                         std::to_string(sys.port()) + ": listening at once")
                .size(),
            1u)
      << sys.Log();
  EXPECT_TRUE(sys.LogLines("with the first metrics").empty()) << sys.Log();
  // Discovery is answered before the first window (the scrape resolution is 5 s).
  auto discovery = sys.Get("/apis/metrics.k8s.io/v1beta1", sys.Admin(), 2s);
  ASSERT_TRUE(discovery.ok()) << discovery.error();
  EXPECT_EQ(discovery->status, 200u) << discovery->body;
  EXPECT_NE(discovery->body.find("\"nodes\""), std::string::npos) << discovery->body;
  EXPECT_GE(SecondsUntilServed(sys, "node-01", true, 30s), 0) << sys.Log();
  auto nodes = sys.NodeMetrics();
  ASSERT_TRUE(nodes.ok()) << nodes.error();
  EXPECT_EQ(nodes->size(), 2u);
}

}  // namespace
}  // namespace system_test
