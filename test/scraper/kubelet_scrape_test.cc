// Integration: the Manager with the real KubeletClientImpl against several real local TLS
// "kubelets" on 127.0.0.1 port 0: healthy ones, a slow one, one returning garbage, one
// returning 500, one with a certificate from another CA, one whose certificate lacks the
// dialled IP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <boost/asio/io_context.hpp>

#include <future>
#include <map>
#include <thread>

#include "base/mutex.h"
#include "kube/config.h"
#include "scraper/kubelet_client_impl.h"
#include "scraper/manager.h"
#include "scraper/options.h"
#include "scraper/scrape_state.h"
#include "scraper/self_metrics.h"
#include "test/testing/exposition_protobuf.h"
#include "test/testing/fake_nodes.h"
#include "test/testing/io_threads.h"
#include "test/testing/local_https_server.h"
#include "test/testing/test_pki.h"

namespace scraper {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing_support::FakeNodes;
using testing_support::IoThreads;
using testing_support::LocalHttpsServer;
using testing_support::Reply;
using testing_support::RunTick;
using testing_support::SeenRequest;
using testing_support::ServerOptions;

// How long a test waits for a tick (a hang turned into a failure).
constexpr auto kTickLimit = seconds(20);

// A payload whose sample time is the real time of the request, so rates are computed.
std::string Payload(double cpu_per_second) {
  auto now_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::string cpu = std::to_string(cpu_per_second * static_cast<double>(now_ms) / 1000.0 -
                                   cpu_per_second * 1.7e9);
  std::string ts = std::to_string(now_ms);
  return "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n"
         "# TYPE node_cpu_usage_seconds_total counter\n"
         "node_cpu_usage_seconds_total " +
         cpu + " " + ts + "\nnode_memory_working_set_bytes 1.5e+09 " + ts +
         "\ncontainer_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"}"
         " " +
         cpu + " " + ts +
         "\ncontainer_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"web\"}"
         " "
         "4096 " +
         ts + "\n";
}

// The node of a kubelet listening on 127.0.0.1:`port`, its metrics at `path` (default: the
// resource metrics endpoint). Its Hostname does not resolve: only the InternalIP reaches it.
kube::Node Kubelet(std::string name, uint16_t port, std::string path = "") {
  kube::Node node = testing_support::NodeAt(std::move(name), "127.0.0.1", port);
  node.addresses.insert(node.addresses.begin(), {"Hostname", "kubelet.invalid"});
  if (!path.empty()) node.annotations["metrics.k8s.io/resource-metrics-path"] = path;
  return node;
}

// Two io threads: the manager's and the kubelet client's handlers run on both.
constexpr int kIoThreads = 2;

std::map<std::string, NodeOutcome> ByName(const TickReport& r) {
  std::map<std::string, NodeOutcome> out;
  for (const auto& o : r.nodes) out[o.node] = o;
  return out;
}

ManagerSettings Settings() {
  ManagerSettings s;
  s.resolution = seconds(3);
  s.request_timeout = milliseconds(1500);
  s.spread = false;
  s.target.preferred_address_types = {"InternalIP"};
  s.target.use_node_status_port = true;
  return s;
}

class KubeletScrapeTest : public ::testing::Test {
 protected:
  KubeletScrapeTest() : other_pki_("other-ca"), store_(StoreSettings{seconds(3), 2}, windows_) {}

  ServerOptions Tls(net::CertAndKey cert) {
    ServerOptions o;
    o.certificate = std::move(cert);
    o.io_timeout = seconds(5);
    return o;
  }
  static LocalHttpsServer::Handler Serve(std::string path = "/metrics/resource") {
    return [path](const SeenRequest& r) {
      if (r.target != path) return Reply::Status(404, "not found");
      return Reply::Ok(Payload(0.25));
    };
  }

  testing_support::TestPki pki_;
  testing_support::TestPki other_pki_;
  FakeNodes nodes_;
  window::Publication windows_;
  Store store_;
};

TEST_F(KubeletScrapeTest, HealthyKubeletsOnTimeBadOnesWithPreciseErrors) {
  LocalHttpsServer good1(Tls(pki_.ServerCert()), Serve());
  LocalHttpsServer good2(Tls(pki_.ServerCert()), Serve("/metrics/nodes/good-2/metrics/resource"));
  LocalHttpsServer slow(Tls(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r = Reply::Ok(Payload(1));
    r.delay = milliseconds(8000);
    return r;
  });
  LocalHttpsServer garbage(Tls(pki_.ServerCert()),
                           [](const SeenRequest&) { return Reply::Ok("<html>oops</html>\n"); });
  LocalHttpsServer failing(Tls(pki_.ServerCert()),
                           [](const SeenRequest&) { return Reply::Status(500, "boom"); });
  LocalHttpsServer foreign(Tls(other_pki_.ServerCert()), Serve());
  LocalHttpsServer no_ip_san(Tls(pki_.ServerCert({"localhost"}, {})), Serve());
  nodes_.Add(Kubelet("good-1", good1.port()));
  nodes_.Add(Kubelet("good-2", good2.port(), "/metrics/nodes/good-2/metrics/resource"));
  nodes_.Add(Kubelet("slow", slow.port()));
  nodes_.Add(Kubelet("garbage", garbage.port()));
  nodes_.Add(Kubelet("failing", failing.port()));
  nodes_.Add(Kubelet("foreign-ca", foreign.port()));
  nodes_.Add(Kubelet("no-ip-san", no_ip_san.port()));

  testing_support::TempDir dir;
  std::string token_file = dir.Write("token", "first-token\n");
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  cs.token_file = token_file;
  cs.token_recheck = milliseconds(10);
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());

  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto report = manager.LastReport();
  ASSERT_NE(report, nullptr);
  auto outcomes = ByName(*report);
  ASSERT_EQ(outcomes.size(), 7u);
  EXPECT_TRUE(outcomes["good-1"].success) << outcomes["good-1"].error;
  EXPECT_TRUE(outcomes["good-2"].success) << outcomes["good-2"].error;
  std::string slow_hp = "127.0.0.1:" + std::to_string(slow.port());
  EXPECT_EQ(outcomes["slow"].error, slow_hp + ": read: timed out");
  EXPECT_EQ(outcomes["garbage"].error, "parse: line 1: expected a metric name or '#'");
  EXPECT_EQ(outcomes["failing"].error, "request failed, status: \"500 Internal Server Error\"");
  EXPECT_THAT(outcomes["foreign-ca"].error, HasSubstr(": handshake: certificate verify failed"));
  EXPECT_THAT(outcomes["no-ip-san"].error, HasSubstr(": handshake: certificate verify failed"));
  // What the real TLS stack wrote decodes as the cause the doctor names.
  EXPECT_EQ(ClassifyScrapeError(outcomes["foreign-ca"].error), ScrapeCause::kUnknownAuthority)
      << outcomes["foreign-ca"].error;
  EXPECT_EQ(ClassifyScrapeError(outcomes["no-ip-san"].error), ScrapeCause::kNoIpSan)
      << outcomes["no-ip-san"].error;
  EXPECT_EQ(outcomes["good-2"].url, "https://127.0.0.1:" + std::to_string(good2.port()) +
                                        "/metrics/nodes/good-2/metrics/resource");
  // The slow kubelet did not hold the healthy ones back: they finished long before its
  // deadline, and the tick ended at that deadline rather than when the slow one answered.
  EXPECT_LT(outcomes["good-1"].duration, outcomes["slow"].duration);
  EXPECT_LT(outcomes["good-2"].duration, outcomes["slow"].duration);
  EXPECT_GE(outcomes["slow"].duration, milliseconds(1500));
  // The tick (deadline 1.5 s) ended before the slow kubelet would even have answered.
  EXPECT_LT(report->duration, milliseconds(8000));
  EXPECT_EQ(report->succeeded, 2u);
  EXPECT_EQ(report->failed, 5u);

  // Bearer token and the Accept header reached the kubelet.
  auto seen = good1.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Authorization"), "Bearer first-token");
  // By default, the text format (--kubelet-request-protobuf=false).
  EXPECT_EQ(seen[0].Header("Accept"), "text/plain;version=0.0.4;q=1,*/*;q=0.1");

  // Second tick: rates appear; the rotated token is used; the connection is reused.
  dir.Write("token", "second-token\n");
  std::this_thread::sleep_for(milliseconds(300));  // token recheck interval + distinct sample ms
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  seen = good1.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].Header("Authorization"), "Bearer second-token");
  EXPECT_EQ(good1.connections_accepted(), 1u);
  auto window = windows_.Current();
  ASSERT_NE(window->FindNode("good-1"), nullptr);
  ASSERT_NE(window->FindNode("good-2"), nullptr);
  EXPECT_EQ(window->FindNode("slow"), nullptr);
  const window::NodeMetrics* n = window->FindNode("good-1");
  EXPECT_EQ(n->memory_bytes, 1'500'000'000u);
  // 0.25 core from real timestamps (the payload's counter grows by 0.25 s per second).
  EXPECT_NEAR(static_cast<double>(n->cpu_nanocores), 2.5e8, 2.5e7);
  ASSERT_NE(window->FindPod("default", "web"), nullptr);
  EXPECT_TRUE(manager.HasData());
}

// A kubelet that negotiates as promhttp does: protobuf when the Accept header names it, text
// otherwise. The scraper asks for protobuf and parses it by the Content-Type; with
// --kubelet-request-protobuf=false it asks for, and parses, text. Both give the same window.
TEST_F(KubeletScrapeTest, NegotiatesProtobufWithTextFallback) {
  constexpr char kProtobuf[] =
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
      "encoding=delimited; escaping=underscores";
  LocalHttpsServer kubelet(Tls(pki_.ServerCert()), [&](const SeenRequest& r) {
    if (r.Header("Accept").find("application/vnd.google.protobuf") == std::string::npos) {
      return Reply::Ok(Payload(0.25), "text/plain; version=0.0.4; charset=utf-8");
    }
    std::string body;
    testing_support::AppendAsDelimitedProtobuf(Payload(0.25), &body);
    return Reply::Ok(std::move(body), kProtobuf);
  });
  // A kubelet whose protobuf answers are broken (text labelled protobuf): the scrape fails with
  // the decoder's message, and asking for text only gets it working again.
  LocalHttpsServer broken(Tls(pki_.ServerCert()), [&](const SeenRequest& r) {
    bool protobuf = r.Header("Accept").find("application/vnd.google.protobuf") != std::string::npos;
    return Reply::Ok(Payload(0.25), protobuf ? kProtobuf : "text/plain; version=0.0.4");
  });
  nodes_.Add(Kubelet("kubelet", kubelet.port()));
  nodes_.Add(Kubelet("broken", broken.port()));
  for (bool request_protobuf : {true, false}) {
    SCOPED_TRACE(request_protobuf);
    KubeletClientSettings cs;
    cs.tls.ca_file = pki_.ca_file();
    cs.request_protobuf = request_protobuf;
    IoThreads io(kIoThreads);
    auto client = KubeletClientImpl::Create(io.io, cs);
    ASSERT_TRUE(client.ok()) << client.error();
    window::Publication windows;
    Store store(StoreSettings{seconds(3), 2}, windows);
    Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store, Settings());
    ASSERT_TRUE(RunTick(manager, kTickLimit));
    std::this_thread::sleep_for(milliseconds(20));  // distinct sample ms
    ASSERT_TRUE(RunTick(manager, kTickLimit));
    auto outcomes = ByName(*manager.LastReport());
    EXPECT_TRUE(outcomes["kubelet"].success) << outcomes["kubelet"].error;
    if (request_protobuf) {
      EXPECT_THAT(outcomes["broken"].error, HasSubstr("parse: family 1: "));
    } else {
      EXPECT_TRUE(outcomes["broken"].success) << outcomes["broken"].error;
    }
    auto seen = kubelet.requests();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().Header("Accept").find("protobuf") != std::string::npos, request_protobuf);
    const window::NodeMetrics* n = windows.Current()->FindNode("kubelet");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->memory_bytes, 1'500'000'000u);
    ASSERT_NE(windows.Current()->FindPod("default", "web"), nullptr);
  }
}

// --kubelet-summary-api: /stats/summary read after /metrics/resource on the same connection;
// ephemeral storage served for the node (node fs) and the container (rootfs + logs). A kubelet
// without the endpoint (404), one answering malformed JSON and one answering slowly keep their
// resource metrics, each with a clear per-node summary error, and do not hold the others back.
// The summary is read within the node's request deadline.
TEST_F(KubeletScrapeTest, SummaryApiAddsEphemeralStoragePerNodeFailuresStayPerNode) {
  constexpr char kSummary[] = R"({"node": {"nodeName": "n", "fs": {"usedBytes": 21474836480}},
    "pods": [{"podRef": {"name": "web", "namespace": "default"},
              "containers": [{"name": "app", "rootfs": {"usedBytes": 40960},
                              "logs": {"usedBytes": 8192}}]}]})";
  auto serve = [&](std::string summary, milliseconds delay) {
    return [summary, delay](const SeenRequest& r) {
      if (r.target == "/metrics/resource") return Reply::Ok(Payload(0.25));
      if (r.target == "/stats/summary" && !summary.empty()) {
        Reply reply = Reply::Ok(summary);
        reply.delay = delay;
        return reply;
      }
      return Reply::Status(404, "not found");
    };
  };
  LocalHttpsServer good(Tls(pki_.ServerCert()), serve(kSummary, milliseconds(0)));
  LocalHttpsServer no_summary(Tls(pki_.ServerCert()), serve("", milliseconds(0)));
  LocalHttpsServer malformed(Tls(pki_.ServerCert()), serve("{\"pods\": [", milliseconds(0)));
  LocalHttpsServer slow(Tls(pki_.ServerCert()), serve(kSummary, milliseconds(8000)));
  nodes_.Add(Kubelet("good", good.port()));
  nodes_.Add(Kubelet("no-summary", no_summary.port()));
  nodes_.Add(Kubelet("malformed", malformed.port()));
  nodes_.Add(Kubelet("slow", slow.port()));
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  ManagerSettings settings = Settings();
  settings.summary_api = true;
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, settings);
  base::MetricsRegistry registry;
  RegisterScrapeMetrics(registry, manager);

  ASSERT_TRUE(RunTick(manager, kTickLimit));
  std::this_thread::sleep_for(milliseconds(300));  // distinct sample ms
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto outcomes = ByName(*manager.LastReport());
  auto url = [](const LocalHttpsServer& s) {
    return "https://127.0.0.1:" + std::to_string(s.port()) + "/stats/summary";
  };
  EXPECT_TRUE(outcomes["good"].success);
  EXPECT_EQ(outcomes["good"].summary_error, "");
  EXPECT_TRUE(outcomes["no-summary"].success);
  EXPECT_EQ(outcomes["no-summary"].summary_error,
            url(no_summary) + ": request failed, status: \"404 Not Found\"");
  EXPECT_TRUE(outcomes["malformed"].success);
  EXPECT_THAT(outcomes["malformed"].summary_error,
              HasSubstr(url(malformed) + ": summary: byte 11: unexpected end of the body"));
  // The node's deadline covers both requests; a summary past it costs only the summary.
  EXPECT_TRUE(outcomes["slow"].success);
  EXPECT_THAT(outcomes["slow"].summary_error, HasSubstr("timed out"));
  EXPECT_LT(outcomes["good"].duration, milliseconds(1500));

  auto window = windows_.Current();
  const window::NodeMetrics* n = window->FindNode("good");
  ASSERT_NE(n, nullptr);
  EXPECT_TRUE(n->has_ephemeral_storage);
  EXPECT_EQ(n->ephemeral_storage_bytes, 21474836480u);
  for (const char* name : {"no-summary", "malformed", "slow"}) {
    ASSERT_NE(window->FindNode(name), nullptr) << name;  // resource metrics still served
    EXPECT_FALSE(window->FindNode(name)->has_ephemeral_storage) << name;
  }
  // The window carries the summary's statistics for sinks: the good node's, none for the rest.
  ASSERT_TRUE(window->has_summary());
  auto node_summary = [&](const char* name) {
    return window->node_summary(
        static_cast<size_t>(window->FindNode(name) - window->nodes().data()));
  };
  EXPECT_EQ(node_summary("good")->fs[window::SummaryStats::kRootFs].used_bytes, 21474836480u);
  for (const char* name : {"no-summary", "malformed", "slow"}) {
    EXPECT_EQ(node_summary(name)->has, 0) << name;
    EXPECT_EQ(node_summary(name)->fs[window::SummaryStats::kRootFs].has, 0) << name;
  }
  // Every kubelet reports default/web; the window keeps the first node's (by name: "good").
  const window::PodMetrics* p = window->FindPod("default", "web");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->containers.size(), 1u);
  EXPECT_TRUE(p->extras_of(0).has_ephemeral_storage);
  EXPECT_EQ(p->extras_of(0).ephemeral_storage_bytes, 40960u + 8192u);
  // One connection per kubelet: the summary followed on it.
  EXPECT_EQ(good.connections_accepted(), 1u);
  ASSERT_EQ(good.requests().size(), 4u);
  EXPECT_EQ(good.requests()[1].target, "/stats/summary");
  // The self-metrics: two ticks of four reads, three failing each time; per node the last tick.
  const std::string rendered = registry.Render();
  for (const char* line : {"# TYPE metrics_server_kubelet_summary_request_total counter\n",
                           "metrics_server_kubelet_summary_request_total{success=\"false\"} 6\n",
                           "metrics_server_kubelet_summary_request_total{success=\"true\"} 2\n",
                           "# TYPE metrics_server_kubelet_summary_last_failed gauge\n",
                           "metrics_server_kubelet_summary_last_failed{node=\"good\"} 0\n",
                           "metrics_server_kubelet_summary_last_failed{node=\"malformed\"} 1\n",
                           "metrics_server_kubelet_summary_last_failed{node=\"no-summary\"} 1\n",
                           "metrics_server_kubelet_summary_last_failed{node=\"slow\"} 1\n"}) {
    EXPECT_THAT(rendered, HasSubstr(line));
  }
}

TEST_F(KubeletScrapeTest, InsecureTlsAcceptsAnyCertificate) {
  LocalHttpsServer foreign(Tls(other_pki_.ServerCert({"localhost"}, {})), Serve());
  nodes_.Add(Kubelet("foreign", foreign.port()));
  KubeletClientSettings cs;
  cs.tls.insecure_skip_verify = true;
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  EXPECT_TRUE(manager.LastReport()->nodes.at(0).success) << manager.LastReport()->nodes.at(0).error;
  EXPECT_EQ(foreign.requests().at(0).Header("Authorization"), "");
}

TEST_F(KubeletScrapeTest, ClientCertificateIsPresented) {
  ServerOptions o = Tls(pki_.ServerCert());
  o.client_ca_pem = pki_.ca().cert_pem;
  o.require_client_cert = true;
  LocalHttpsServer kubelet(o, Serve());
  nodes_.Add(Kubelet("mtls", kubelet.port()));
  auto files = pki_.WriteFiles("scraper", pki_.ClientCert("system:metrics-server"));
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  cs.tls.cert_file = files.cert_file;
  cs.tls.key_file = files.key_file;
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  EXPECT_TRUE(manager.LastReport()->nodes.at(0).success) << manager.LastReport()->nodes.at(0).error;
  EXPECT_EQ(kubelet.requests().at(0).client_cn, "system:metrics-server");
}

TEST_F(KubeletScrapeTest, PlainHttpOnlyBehindTheFlagAndResponseSizeCapped) {
  ServerOptions plain;
  plain.tls = false;
  LocalHttpsServer kubelet(plain, Serve());
  LocalHttpsServer huge(plain, [](const SeenRequest&) {
    Reply r;
    r.huge_body_bytes = 64 * 1024;
    return r;
  });
  nodes_.Add(Kubelet("plain", kubelet.port()));
  nodes_.Add(Kubelet("huge", huge.port()));
  Options options;
  options.deprecated_kubelet_completely_insecure = true;
  options.kubelet_max_response_bytes = 16 * 1024;
  kube::RestConfig rest;
  rest.tls.ca_file = "/ca";
  rest.token_file = "/token";
  KubeletClientSettings cs = MakeKubeletClientSettings(options, &rest);
  EXPECT_TRUE(cs.plain_http);
  EXPECT_TRUE(cs.token_file.empty());  // no credentials over plain HTTP
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  ManagerSettings s = Settings();
  s.target.plain_http = true;
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, s);
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto outcomes = ByName(*manager.LastReport());
  EXPECT_TRUE(outcomes["plain"].success) << outcomes["plain"].error;
  EXPECT_EQ(outcomes["plain"].url.rfind("http://127.0.0.1:", 0), 0u);
  EXPECT_THAT(outcomes["huge"].error, HasSubstr("body exceeds limit of 16384 bytes"));

  // A TLS client refuses nothing silently: the same plain kubelet over https fails in the
  // handshake.
  auto tls_client = KubeletClientImpl::Create(io.io, KubeletClientSettings{});
  ASSERT_TRUE(tls_client.ok());
  window::Publication windows;
  Store store(StoreSettings{}, windows);
  Manager tls_manager(io.io, base::SystemClock::Instance(), nodes_, **tls_client, store,
                      Settings());
  ASSERT_TRUE(RunTick(tls_manager, kTickLimit));
  EXPECT_THAT(ByName(*tls_manager.LastReport())["plain"].error, HasSubstr("handshake"));
}

// Hostile kubelets (or anything on the path under --kubelet-insecure-tls): each answers with
// framing that never ends or never adds up to a body, followed by 256 MiB of the same, as fast
// as loopback TLS carries it. Each fails on the client's limits (--kubelet-max-response-bytes,
// the header limit, the read buffer) with a precise error, long before the request timeout, and
// the healthy kubelet in the same tick is unaffected.
TEST_F(KubeletScrapeTest, HostileKubeletsFailOnTheResponseLimitsNotTheDeadline) {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct Case {
    std::string name, head, filler, error;
  };
  const std::vector<Case> cases = {
      {"endless-chunk-extension", chunked + "1;", "a", "chunk header or trailer exceeds"},
      {"endless-trailers", chunked + "0\r\n", "X-Trailer: a\r\n",
       "chunk header or trailer exceeds"},
      {"extension-on-every-chunk", chunked, "1;" + std::string(8000, 'e') + "\r\nz\r\n",
       "body exceeds limit of 1048576 bytes"},
      {"endless-headers", "HTTP/1.1 200 OK\r\n", "X-Header: a\r\n", "response header exceeds"},
      {"body-until-close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "x",
       "body exceeds limit of 1048576 bytes"},
  };
  LocalHttpsServer good(Tls(pki_.ServerCert()), Serve());
  nodes_.Add(Kubelet("good", good.port()));
  std::vector<std::unique_ptr<LocalHttpsServer>> hostile;
  for (const Case& c : cases) {
    hostile.push_back(std::make_unique<LocalHttpsServer>(
        Tls(pki_.ServerCert()), [head = c.head, filler = c.filler](const SeenRequest&) {
          Reply r;
          r.raw = head;
          r.filler = filler;
          r.filler_bytes = 256 << 20;
          return r;
        }));
    nodes_.Add(Kubelet(c.name, hostile.back()->port()));
  }
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  cs.max_response_bytes = 1 << 20;
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok()) << client.error();
  ManagerSettings settings = Settings();
  settings.request_timeout = seconds(10);
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, settings);
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto report = manager.LastReport();
  ASSERT_NE(report, nullptr);
  auto outcomes = ByName(*report);
  EXPECT_TRUE(outcomes["good"].success) << outcomes["good"].error;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const NodeOutcome& o = outcomes[cases[i].name];
    EXPECT_FALSE(o.success);
    EXPECT_THAT(o.error, HasSubstr(": read: " + cases[i].error));
    EXPECT_LT(o.duration, seconds(5));
    EXPECT_LT(hostile[i]->filler_bytes_written(), size_t{24} << 20);
  }
  EXPECT_LT(report->duration, seconds(5));
}

TEST_F(KubeletScrapeTest, DeletedNodesReleaseTheirConnections) {
  LocalHttpsServer a(Tls(pki_.ServerCert()), Serve());
  LocalHttpsServer b(Tls(pki_.ServerCert()), Serve());
  nodes_.Add(Kubelet("a", a.port()));
  nodes_.Add(Kubelet("b", b.port()));
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok());
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  EXPECT_EQ((*client)->connections(), 2u);
  nodes_.Remove("b");
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  EXPECT_EQ((*client)->connections(), 1u);
  EXPECT_EQ(store_.Stats().nodes, 1u);
}

// With --kubelet-max-idle-connections=1, one node keeps its connection across ticks and the
// others reconnect for each scrape (asking "Connection: close", resuming TLS); all are scraped.
// When the kept node goes, its place passes to another node.
TEST_F(KubeletScrapeTest, IdleConnectionsBeyondTheLimitReconnectWithResumedTls) {
  std::vector<std::unique_ptr<LocalHttpsServer>> kubelets;
  for (const char* name : {"a", "b", "c"}) {
    kubelets.push_back(std::make_unique<LocalHttpsServer>(Tls(pki_.ServerCert()), Serve()));
    nodes_.Add(Kubelet(name, kubelets.back()->port()));
  }
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  cs.max_idle_connections = 1;
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok());
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  constexpr size_t kTicks = 3;
  for (size_t t = 0; t < kTicks; ++t) {
    ASSERT_TRUE(RunTick(manager, kTickLimit));
    for (const auto& [name, outcome] : ByName(*manager.LastReport()))
      EXPECT_TRUE(outcome.success) << name << ": " << outcome.error;
  }
  EXPECT_EQ((*client)->kept(), 1u);
  size_t kept_index = kubelets.size();
  for (size_t i = 0; i < kubelets.size(); ++i) {
    auto seen = kubelets[i]->requests();
    ASSERT_EQ(seen.size(), kTicks) << i;
    if (kubelets[i]->connections_accepted() == 1) {
      EXPECT_EQ(kept_index, kubelets.size()) << "a second kept node: " << i;
      kept_index = i;
      for (const auto& r : seen) EXPECT_EQ(r.Header("Connection"), "") << i;
      continue;
    }
    EXPECT_EQ(kubelets[i]->connections_accepted(), kTicks) << i;
    for (size_t t = 0; t < kTicks; ++t) {
      EXPECT_EQ(seen[t].Header("Connection"), "close") << i;
      EXPECT_EQ(seen[t].resumed, t > 0) << i << " tick " << t;
    }
  }
  ASSERT_LT(kept_index, kubelets.size()) << "no node kept its connection";

  // The kept node leaves: one of the others takes its place at its next scrape and keeps its
  // connection from then on.
  nodes_.Remove(std::string(1, static_cast<char>('a' + kept_index)));
  std::vector<size_t> before;
  for (const auto& k : kubelets) before.push_back(k->connections_accepted());
  for (size_t t = 0; t < 2; ++t) ASSERT_TRUE(RunTick(manager, kTickLimit));
  EXPECT_EQ((*client)->kept(), 1u);
  EXPECT_EQ((*client)->connections(), 2u);
  size_t promoted = 0;
  for (size_t i = 0; i < kubelets.size(); ++i) {
    if (i == kept_index) continue;
    size_t opened = kubelets[i]->connections_accepted() - before[i];
    EXPECT_TRUE(opened == 1 || opened == 2) << i << ": " << opened;
    if (opened == 1) ++promoted;
  }
  EXPECT_EQ(promoted, 1u);
}

// The owner may destroy the Manager from inside its `done` callback, or from another thread as
// soon as `done` has run, while the io threads go on (scraper/manager.h, "Lifetime"). Repeated
// so that the sanitizer builds see the end of a tick on an io thread race the destruction.
TEST_F(KubeletScrapeTest, ManagerMayBeDestroyedFromOrRightAfterDone) {
  LocalHttpsServer a(Tls(pki_.ServerCert()), Serve());
  LocalHttpsServer b(Tls(pki_.ServerCert()), Serve());
  nodes_.Add(Kubelet("a", a.port()));
  nodes_.Add(Kubelet("b", b.port()));
  KubeletClientSettings cs;
  cs.tls.ca_file = pki_.ca_file();
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, cs);
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 60; ++i) {
    auto manager = std::make_unique<Manager>(io.io, base::SystemClock::Instance(), nodes_, **client,
                                             store_, Settings());
    if (i % 2 == 0) {
      // From inside: `done` deletes the Manager that is calling it.
      std::promise<void> ended;
      auto ended_future = ended.get_future();
      Manager* raw = manager.release();
      raw->RunTick([raw, &ended] {
        delete raw;
        ended.set_value();
      });
      ASSERT_EQ(ended_future.wait_for(seconds(20)), std::future_status::ready) << i;
    } else {
      // Right after: the test thread destroys it as soon as `done` has signalled.
      ASSERT_TRUE(RunTick(*manager, kTickLimit)) << i;
      manager.reset();
    }
  }
  EXPECT_EQ(store_.Stats().nodes, 2u);
  EXPECT_EQ(a.requests().size(), 60u);
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A kubeconfig whose cluster is `server` (never contacted here) with the CA inline and `user`
// (YAML lines under `user:`).
std::string Kubeconfig(const std::string& ca_pem, const std::string& user) {
  return "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
         "    server: https://127.0.0.1:6443\n    certificate-authority-data: " +
         Base64(ca_pem) + "\nusers:\n- name: u\n  user:\n" + user +
         "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
         "current-context: x\n";
}

// A kubelet that requires a client certificate (TLS handshake fails without one) is scraped
// with the one from the kubeconfig's client-certificate-data / client-key-data, verified with
// the kubeconfig's certificate-authority-data, and no kubelet flag.
TEST_F(KubeletScrapeTest, KubeconfigClientCertificateDataReachesKubelets) {
  testing_support::TestPki client_ca("kubelet-client-ca");
  ServerOptions o = Tls(pki_.ServerCert());
  o.client_ca_pem = client_ca.ca().cert_pem;
  o.require_client_cert = true;
  LocalHttpsServer kubelet(o, Serve());
  nodes_.Add(Kubelet("n", kubelet.port()));
  const auto cert = client_ca.ClientCert("system:serviceaccount:kube-system:metrics-server");
  auto rest = kube::ParseKubeconfig(
      Kubeconfig(pki_.ca().cert_pem, "    client-certificate-data: " + Base64(cert.cert_pem) +
                                         "\n    client-key-data: " + Base64(cert.key_pem) + "\n"),
      "/nonexistent");
  ASSERT_TRUE(rest.ok()) << rest.error();
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, MakeKubeletClientSettings(Options{}, &*rest));
  ASSERT_TRUE(client.ok()) << client.error();
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto outcome = ByName(*manager.LastReport())["n"];
  EXPECT_TRUE(outcome.success) << outcome.error;
  ASSERT_FALSE(kubelet.requests().empty());
  EXPECT_EQ(kubelet.requests()[0].client_cn, "system:serviceaccount:kube-system:metrics-server");

  // Without the kubeconfig (the same CA by flag, no certificate) the kubelet refuses.
  Options ca_only;
  ca_only.kubelet_certificate_authority = pki_.ca_file();
  auto anonymous = KubeletClientImpl::Create(io.io, MakeKubeletClientSettings(ca_only));
  ASSERT_TRUE(anonymous.ok()) << anonymous.error();
  window::Publication windows;
  Store store(StoreSettings{seconds(3), 2}, windows);
  Manager refused(io.io, base::SystemClock::Instance(), nodes_, **anonymous, store, Settings());
  ASSERT_TRUE(RunTick(refused, kTickLimit));
  EXPECT_FALSE(ByName(*refused.LastReport())["n"].success);
  io.Stop();
}

// A kubelet that answers 401 unless it gets the right bearer token is scraped with the
// kubeconfig's static `token`.
TEST_F(KubeletScrapeTest, KubeconfigStaticTokenReachesKubelets) {
  const std::string token = "kubeconfig-static-token-0123456789";
  LocalHttpsServer kubelet(Tls(pki_.ServerCert()), [token](const SeenRequest& r) {
    if (r.Header("Authorization") != "Bearer " + token) return Reply::Status(401, "Unauthorized");
    return Reply::Ok(Payload(0.25));
  });
  nodes_.Add(Kubelet("n", kubelet.port()));
  auto rest =
      kube::ParseKubeconfig(Kubeconfig(pki_.ca().cert_pem, "    token: " + token + "\n"), "/");
  ASSERT_TRUE(rest.ok()) << rest.error();
  IoThreads io(kIoThreads);
  auto client = KubeletClientImpl::Create(io.io, MakeKubeletClientSettings(Options{}, &*rest));
  ASSERT_TRUE(client.ok()) << client.error();
  Manager manager(io.io, base::SystemClock::Instance(), nodes_, **client, store_, Settings());
  ASSERT_TRUE(RunTick(manager, kTickLimit));
  auto outcome = ByName(*manager.LastReport())["n"];
  EXPECT_TRUE(outcome.success) << outcome.error;

  // The same kubelet without the token: 401.
  Options ca_only;
  ca_only.kubelet_certificate_authority = pki_.ca_file();
  auto anonymous = KubeletClientImpl::Create(io.io, MakeKubeletClientSettings(ca_only));
  ASSERT_TRUE(anonymous.ok()) << anonymous.error();
  window::Publication windows;
  Store store(StoreSettings{seconds(3), 2}, windows);
  Manager refused(io.io, base::SystemClock::Instance(), nodes_, **anonymous, store, Settings());
  ASSERT_TRUE(RunTick(refused, kTickLimit));
  EXPECT_THAT(ByName(*refused.LastReport())["n"].error, HasSubstr("401"));
  io.Stop();
}

TEST(KubeletClientSettings, BadCaFileIsReported) {
  boost::asio::io_context io;
  KubeletClientSettings cs;
  cs.tls.ca_file = "/nonexistent/ca.crt";
  auto client = KubeletClientImpl::Create(io, cs);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.error(), HasSubstr("kubelet TLS: "));
  EXPECT_THAT(client.error(), HasSubstr("/nonexistent/ca.crt"));
}

}  // namespace
}  // namespace scraper
