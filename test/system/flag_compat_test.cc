// The real binary with metrics-server's command lines: the exact args of metrics-server v0.8.0's
// release manifest (components.yaml) and of its Helm chart's defaults serve metrics; its flags
// without meaning here are accepted with one warning naming them; --version prints and exits;
// unknown flags stay fatal with the usage hint; --shutdown-delay-duration keeps serving (with
// /readyz failing) for the delay after SIGTERM before draining.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "test/system/system_harness.h"

namespace system_test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// metrics-server v0.8.0 manifests/base/deployment.yaml, as released in components.yaml.
const std::vector<std::string> kReleaseManifestArgs = {
    "--cert-dir=/tmp",
    "--secure-port=10250",
    "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
    "--kubelet-use-node-status-port",
    "--metric-resolution=15s",
};
// Its Helm chart (charts/metrics-server, values.yaml defaults): --secure-port from containerPort
// (10250), then defaultArgs.
const std::vector<std::string> kHelmChartDefaultArgs = {
    "--secure-port=10250",
    "--cert-dir=/tmp",
    "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
    "--kubelet-use-node-status-port",
    "--metric-resolution=15s",
};

// The args as given when 127.0.0.1:10250 is free; otherwise (another server on this machine
// holds it) with --secure-port=0 instead, so the test does not depend on the machine's ports.
std::vector<std::string> OnFreePort(std::vector<std::string> args) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(10250);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  if (!free) {
    std::printf("127.0.0.1:10250 is in use: running with --secure-port=0 instead\n");
    for (auto& a : args) {
      if (a == "--secure-port=10250") a = "--secure-port=0";
    }
  }
  return args;
}

struct Ran {
  int code = -1;
  std::string output;  // stdout and stderr
};
// Runs the binary to completion (bounded by `timeout` 20 s) with `args` (no shell quoting
// needed: no spaces or quotes in them).
Ran RunBinary(const std::vector<std::string>& args) {
  std::string command = "timeout 20 " + System::Binary();
  for (const auto& a : args) command += " " + a;
  command += " 2>&1";
  Ran ran;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return ran;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) ran.output.append(buf.data(), n);
  const int status = ::pclose(p);
  ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ran;
}

void ExpectServes(System& sys) {
  auto items = sys.NodeMetrics();
  ASSERT_TRUE(items.ok()) << items.error() << "\n" << sys.Log();
  EXPECT_EQ(items->size(), sys.node_names().size()) << items->dump();
  EXPECT_TRUE(sys.LogLines("without effect here").empty()) << sys.Log();
}

TEST(FlagCompat, ReleaseManifestArgsServe) {
  System sys;
  sys.AddKubelets(3);
  ASSERT_TRUE(sys.Start(OnFreePort(kReleaseManifestArgs)));
  ExpectServes(sys);
}

TEST(FlagCompat, HelmChartDefaultArgsServe) {
  System sys;
  sys.AddKubelets(3);
  ASSERT_TRUE(sys.Start(OnFreePort(kHelmChartDefaultArgs)));
  ExpectServes(sys);
}

// metrics-server flags that mean nothing here are accepted; one warning line names those given
// (not those whose value asks for what this server does anyway, like --profiling=false); -l is
// the node selector.
TEST(FlagCompat, MetricsServerOnlyFlagsServeWithOneWarning) {
  System sys;
  sys.AddKubelets(2);
  ASSERT_TRUE(sys.Start({"--profiling=false", "--enable-priority-and-fairness=false",
                         "--disable-http2-serving", "--audit-log-path=-", "--audit-log-maxage", "7",
                         "--vmodule=scraper=4", "--permit-address-sharing",
                         "--http2-max-streams-per-connection=1000", "-l",
                         "kubernetes.io/os!=windows", "--feature-gates",
                         "kube:APIResponseCompression=false", "--shutdown-delay-duration=0s"}));
  auto items = sys.NodeMetrics();
  ASSERT_TRUE(items.ok()) << items.error();
  EXPECT_EQ(items->size(), 2u);
  auto warnings = sys.LogLines("without effect here");
  ASSERT_EQ(warnings.size(), 1u) << sys.Log();
  for (const char* flag : {"--audit-log-path", "--audit-log-maxage", "--vmodule",
                           "--http2-max-streams-per-connection", "--feature-gates"}) {
    EXPECT_THAT(warnings[0], HasSubstr(flag));
  }
  for (const char* flag :
       {"--profiling", "--enable-priority-and-fairness", "--disable-http2-serving",
        "--permit-address-sharing", "--node-selector", "--shutdown-delay-duration"}) {
    EXPECT_THAT(warnings[0], Not(HasSubstr(flag)));
  }
}

TEST(FlagCompat, VersionPrintsAndExits) {
  Ran ran = RunBinary({"--version"});
  EXPECT_EQ(ran.code, 0) << ran.output;
  EXPECT_TRUE(std::regex_match(ran.output, std::regex(R"(v\d+\.\d+\.\d+\n)"))) << ran.output;
}

TEST(FlagCompat, UnknownFlagsAreFatalWithTheUsageHint) {
  Ran ran = RunBinary({"--kubelet-insecure-tls", "--no-such-flag=1"});
  EXPECT_EQ(ran.code, 2) << ran.output;
  EXPECT_THAT(ran.output, HasSubstr("unknown flag --no-such-flag"));
  EXPECT_THAT(ran.output, HasSubstr("Run 'cpp-metrics-server --help' for usage."));
}

// After SIGTERM, /readyz fails at once while requests (on new connections too) are served as
// usual for --shutdown-delay-duration; then the drain, and exit 0.
TEST(FlagCompat, ShutdownDelayKeepsServingWhileNotReady) {
  System sys;
  sys.AddKubelets(2);
  ASSERT_TRUE(sys.Start({"--shutdown-delay-duration=4s"}));
  const auto signal_at = std::chrono::steady_clock::now();
  sys.Signal(SIGTERM);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = sys.Get("/readyz", {}, 2s);
        return r.ok() && r->status != 200;
      },
      2s, 50ms))
      << sys.Log();
  int served = 0;
  while (SecondsSince(signal_at) < 3.0) {
    auto items = sys.NodeMetrics();
    ASSERT_TRUE(items.ok()) << "at " << SecondsSince(signal_at) << " s: " << items.error();
    ++served;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_GT(served, 5);
  EXPECT_FALSE(sys.Wait(0ms).has_value()) << "exited before the delay was over";
  auto code = sys.Wait(20s);
  const double exit_after = SecondsSince(signal_at);
  ASSERT_TRUE(code.has_value()) << "still running 20 s after the delay";
  EXPECT_EQ(*code, 0) << sys.Log();
  EXPECT_GE(exit_after, 4.0);
  EXPECT_THAT(sys.Log(), HasSubstr("shutdown delay over"));
}

}  // namespace
}  // namespace system_test
