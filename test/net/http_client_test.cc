#include "net/http_client.h"

#include "net/file_token_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <future>
#include <mutex>
#include <thread>

#include "base/mutex.h"
#include "test/testing/local_https_server.h"
#include "test/testing/proc_status.h"
#include "test/testing/sim_kubelet.h"
#include "test/testing/test_pki.h"

namespace net {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing_support::ChunkFeed;
using testing_support::LocalHttpsServer;
using testing_support::Reply;
using testing_support::SeenRequest;
using testing_support::ServerOptions;
using testing_support::TestPki;
using namespace std::chrono_literals;

constexpr std::size_t kMiB = 1 << 20;

Reply Echo(const SeenRequest& req) { return Reply::Ok("path=" + req.target); }

Request Get(std::string target) {
  Request r;
  r.target = std::move(target);
  return r;
}

// Waits for a future with a timeout so a broken client fails the test instead of hanging it.
template <typename T>
T Await(std::future<T>& f, std::chrono::milliseconds timeout = 10s) {
  if (f.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "no completion within " << timeout.count() << "ms";
    throw std::runtime_error("timeout waiting for completion");
  }
  return f.get();
}

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientTest() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~HttpClientTest() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  ServerOptions TlsServer(net::CertAndKey cert) {
    ServerOptions o;
    o.certificate = std::move(cert);
    return o;
  }

  std::shared_ptr<asio::ssl::context> Context(const TlsClientConfig& config) {
    auto ctx = MakeClientContext(config);
    if (!ctx.ok()) throw std::runtime_error("MakeClientContext: " + ctx.error());
    return *ctx;
  }

  TlsClientConfig TrustingPki() {
    TlsClientConfig c;
    c.ca_file = pki_.ca_file();
    return c;
  }

  std::shared_ptr<HttpClient> Client(const Endpoint& ep, const TlsClientConfig& config,
                                     ClientOptions options = {}) {
    return HttpClient::Create(io_, ep.tls ? Context(config) : nullptr, ep, std::move(options));
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  TestPki pki_;
};

TEST_F(HttpClientTest, TlsWithIpSanVerifies) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    return Reply::Ok("{\"path\":\"" + req.target + "\"}", "application/json");
  });
  auto client = Client(server.endpoint(), TrustingPki());
  auto r = client->SendSync(Get("/metrics/resource"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, "{\"path\":\"/metrics/resource\"}");
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].Header("Host"), server.endpoint().HostPort());
  EXPECT_EQ(seen[0].Header("User-Agent"), "cpp-metrics-server");
  EXPECT_EQ(seen[0].Header("Authorization"), "");
  EXPECT_EQ(seen[0].sni, "");  // no SNI for IP literals
}

TEST_F(HttpClientTest, Ipv6LiteralVerifiesAgainstIpSan) {
  ServerOptions o = TlsServer(pki_.ServerCert({}, {"::1"}));
  o.ipv6 = true;
  LocalHttpsServer server(o, Echo);
  EXPECT_EQ(server.endpoint().HostPort(), "[::1]:" + std::to_string(server.port()));
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/six"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/six");
}

TEST_F(HttpClientTest, DnsNameVerifiesAgainstDnsSan) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert({"localhost"}, {})), Echo);
  auto r = Client(server.endpoint("localhost"), TrustingPki())->SendSync(Get("/dns"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/dns");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].sni, "localhost");
}

TEST_F(HttpClientTest, WrongCaFailsHandshakeWithVerificationError) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), Echo);
  TestPki other("other-ca");
  TlsClientConfig config;
  config.ca_data = other.ca().cert_pem;
  auto r = Client(server.endpoint(), config)->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith(server.endpoint().HostPort() + ": handshake: "));
  EXPECT_THAT(r.error(), HasSubstr("certificate verify failed"));
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, DnsNameMismatchIsRejected) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert({"other.example"}, {"127.0.0.1"})), Echo);
  auto r = Client(server.endpoint("localhost"), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("handshake: certificate verify failed"));
  EXPECT_THAT(r.error(), HasSubstr("hostname mismatch"));
}

TEST_F(HttpClientTest, IpSanMismatchIsRejectedEvenWithMatchingDnsName) {
  // An IP literal must match an IP SAN; a DNS SAN spelling the address does not count.
  LocalHttpsServer server(TlsServer(pki_.ServerCert({"127.0.0.1", "localhost"}, {"10.1.2.3"})),
                          Echo);
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("handshake: certificate verify failed"));
  EXPECT_THAT(r.error(), HasSubstr("IP address mismatch"));
}

TEST_F(HttpClientTest, ServerNameOverridesTheVerifiedIdentity) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert({"kubelet.internal"}, {})), Echo);
  TlsClientConfig config = TrustingPki();
  auto direct = Client(server.endpoint(), config)->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(direct.ok());
  config.server_name = "kubelet.internal";
  auto named = Client(server.endpoint(), config)->SendSync(Get("/named"), 5s, kMiB);
  ASSERT_TRUE(named.ok()) << named.error();
  EXPECT_EQ(named->body, "path=/named");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].sni, "kubelet.internal");
}

TEST_F(HttpClientTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  TestPki other("other-ca");
  LocalHttpsServer server(TlsServer(other.ServerCert({"nowhere.example"}, {})), Echo);
  TlsClientConfig config;
  config.insecure_skip_verify = true;
  auto r = Client(server.endpoint(), config)->SendSync(Get("/insecure"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/insecure");
}

TEST_F(HttpClientTest, ExpiredServerCertificateIsRejected) {
  net::CertificateSpec spec;
  spec.common_name = "expired";
  spec.ip_addresses = {"127.0.0.1"};
  spec.server_auth = true;
  spec.not_before = std::chrono::system_clock::now() - 48h;
  spec.not_after = std::chrono::system_clock::now() - 24h;
  LocalHttpsServer server(TlsServer(pki_.Issue(spec)), Echo);
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("certificate has expired"));
}

TEST_F(HttpClientTest, ClientCertificateIsPresented) {
  ServerOptions o = TlsServer(pki_.ServerCert());
  o.client_ca_pem = pki_.ca().cert_pem;
  o.require_client_cert = true;
  LocalHttpsServer server(o, Echo);

  auto from_memory = pki_.ClientCert("system:metrics-server", {"system:masters"});
  TlsClientConfig config = TrustingPki();
  config.cert_data = from_memory.cert_pem;
  config.key_data = from_memory.key_pem;
  auto r = Client(server.endpoint(), config)->SendSync(Get("/a"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();

  auto files = pki_.WriteFiles("client", pki_.ClientCert("from-file"));
  config = TrustingPki();
  config.cert_file = files.cert_file;
  config.key_file = files.key_file;
  r = Client(server.endpoint(), config)->SendSync(Get("/b"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();

  // Without a certificate the server refuses (during or right after the handshake).
  r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/c"), 5s, kMiB);
  EXPECT_FALSE(r.ok());

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].client_cn, "system:metrics-server");
  EXPECT_EQ(seen[1].client_cn, "from-file");
}

TEST_F(HttpClientTest, ContextErrorsNameTheBadInput) {
  TlsClientConfig config;
  config.ca_file = pki_.dir().File("missing.crt");
  auto ctx = MakeClientContext(config);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.error(), HasSubstr("ca_file " + config.ca_file));

  config = {};
  config.ca_data = "not a certificate";
  ctx = MakeClientContext(config);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.error(), StartsWith("ca_data: "));

  auto a = pki_.ClientCert("a"), b = pki_.ClientCert("b");
  config = {};
  config.cert_data = a.cert_pem;
  config.key_data = b.key_pem;
  ctx = MakeClientContext(config);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.error(), StartsWith("key_data: "));
  EXPECT_THAT(ctx.error(), HasSubstr("mismatch"));

  config = {};
  config.cert_file = pki_.ca_file();
  ctx = MakeClientContext(config);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.error(), HasSubstr("together"));
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnectionAndRecoversWhenServerClosesIt) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), Echo);
  auto client = Client(server.endpoint(), TrustingPki());
  for (int i = 0; i < 5; ++i) {
    auto r = client->SendSync(Get("/n" + std::to_string(i)), 5s, kMiB);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->body, "path=/n" + std::to_string(i));
  }
  EXPECT_EQ(server.connections_accepted(), 1u);

  // The server drops the idle connection; the next call retries transparently on a new one,
  // resuming the session the kept connection had (taken when it went idle).
  EXPECT_EQ(server.CloseIdleConnections(), 1u);
  auto r = client->SendSync(Get("/after"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/after");
  EXPECT_EQ(server.connections_accepted(), 2u);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_FALSE(seen[0].resumed);
  EXPECT_TRUE(seen[5].resumed);
}

TEST_F(HttpClientTest, ReconnectResumesTheTlsSession) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    Reply r = Echo(req);
    r.close_after = true;
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  for (int i = 0; i < 3; ++i) {
    auto r = client->SendSync(Get("/r" + std::to_string(i)), 5s, kMiB);
    ASSERT_TRUE(r.ok()) << r.error();
  }
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(server.connections_accepted(), 3u);
  EXPECT_FALSE(seen[0].resumed);
  EXPECT_TRUE(seen[1].resumed);
  EXPECT_TRUE(seen[2].resumed);
}

// keep_alive = false: "Connection: close" on the wire, the client closes after the response
// even though the server would keep the connection, and the next call resumes the TLS session.
TEST_F(HttpClientTest, RequestWithoutKeepAliveClosesAfterTheResponseAndResumes) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), Echo);
  auto client = Client(server.endpoint(), TrustingPki());
  for (int i = 0; i < 3; ++i) {
    net::Request request = Get("/c" + std::to_string(i));
    request.keep_alive = false;
    auto r = client->SendSync(std::move(request), 5s, kMiB);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->body, "path=/c" + std::to_string(i));
  }
  auto kept = client->SendSync(Get("/k"), 5s, kMiB);  // opens the connection it keeps
  ASSERT_TRUE(kept.ok()) << kept.error();
  kept = client->SendSync(Get("/k"), 5s, kMiB);
  ASSERT_TRUE(kept.ok()) << kept.error();
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(server.connections_accepted(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(seen[i].Header("Connection"), "close") << i;
    EXPECT_EQ(seen[i].connection, i + 1);
    EXPECT_EQ(seen[i].resumed, i > 0) << i;
  }
  EXPECT_EQ(seen[3].Header("Connection"), "");
  EXPECT_TRUE(seen[3].resumed);
  EXPECT_EQ(seen[4].connection, seen[3].connection);
}

TEST_F(HttpClientTest, ReusedConnectionClosedBeforeResponseIsRetriedOnce) {
  int calls = 0;  // handler runs on the server thread only
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&calls](const SeenRequest& req) {
    ++calls;
    if (calls == 2) {
      Reply r;
      r.action = Reply::Action::kClose;
      return r;
    }
    return Echo(req);
  });
  auto client = Client(server.endpoint(), TrustingPki());
  ASSERT_TRUE(client->SendSync(Get("/first"), 5s, kMiB).ok());
  auto r = client->SendSync(Get("/second"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/second");
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST_F(HttpClientTest, ConnectionClosedMidResponseIsNotRetried) {
  int calls = 0;
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&calls](const SeenRequest& req) {
    if (++calls == 2) {
      Reply r;
      r.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
      return r;
    }
    return Echo(req);
  });
  auto client = Client(server.endpoint(), TrustingPki());
  ASSERT_TRUE(client->SendSync(Get("/first"), 5s, kMiB).ok());
  auto r = client->SendSync(Get("/second"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(": read: connection closed mid-response"));
  EXPECT_EQ(server.requests().size(), 2u);
  // The client recovers on the next call.
  r = client->SendSync(Get("/third"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
}

TEST_F(HttpClientTest, FreshConnectionClosedBeforeResponseIsAnError) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r;
    r.action = Reply::Action::kReset;
    return r;
  });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(": read: "));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(HttpClientTest, QueuedCallsRunInOrderOnOneConnection) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), Echo);
  auto client = Client(server.endpoint(), TrustingPki());
  std::mutex mu;
  std::vector<std::string> bodies;
  std::promise<void> all;
  constexpr int kCalls = 8;
  for (int i = 0; i < kCalls; ++i) {
    client->Send(Get("/q" + std::to_string(i)), std::chrono::steady_clock::now() + 5s, kMiB,
                 [&, i](base::Result<Response> r) {
                   std::lock_guard lock(mu);
                   bodies.push_back(r.ok() ? r->body : r.error());
                   if (i == kCalls - 1) all.set_value();
                 });
  }
  auto f = all.get_future();
  Await(f);
  std::lock_guard lock(mu);
  ASSERT_EQ(bodies.size(), static_cast<std::size_t>(kCalls));
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(bodies[i], "path=/q" + std::to_string(i));
  EXPECT_EQ(server.connections_accepted(), 1u);
}

TEST_F(HttpClientTest, QueuedCallWhoseDeadlinePassedIsNotSent) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    Reply r = Echo(req);
    if (req.target == "/slow") r.delay = 400ms;
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  std::promise<base::Result<Response>> slow, late;
  auto now = std::chrono::steady_clock::now();
  client->Send(Get("/slow"), now + 5s, kMiB,
               [&slow](base::Result<Response> r) { slow.set_value(std::move(r)); });
  client->Send(Get("/late"), now + 100ms, kMiB,
               [&late](base::Result<Response> r) { late.set_value(std::move(r)); });
  auto slow_f = slow.get_future(), late_f = late.get_future();
  auto slow_r = Await(slow_f);
  ASSERT_TRUE(slow_r.ok()) << slow_r.error();
  auto late_r = Await(late_f);
  ASSERT_FALSE(late_r.ok());
  EXPECT_EQ(late_r.error(), server.endpoint().HostPort() +
                                ": queue: deadline passed while waiting for earlier calls");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(HttpClientTest, HeaderInjectionIsRefused) {
  ServerOptions o;
  o.tls = false;
  LocalHttpsServer server(o, Echo);
  auto client = Client(server.endpoint(), {});
  Request req = Get("/");
  req.headers = {{"X-Evil", "a\r\nX-Injected: b"}};
  auto r = client->SendSync(req, 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(": write: invalid header \"X-Evil\""));
  r = client->SendSync(Get("/path with space"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("invalid request target"));
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, HandshakeThatNeverCompletesTimesOut) {
  ServerOptions o = TlsServer(pki_.ServerCert());
  o.stall_handshake = true;
  LocalHttpsServer server(o, Echo);
  ClientOptions options;
  options.handshake_timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto r = Client(server.endpoint(), TrustingPki(), options)->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), server.endpoint().HostPort() + ": handshake: timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(HttpClientTest, ConnectToFullAcceptQueueTimesOut) {
  // A listener that never accepts, its accept queue filled: further SYNs are dropped, so
  // connect() hangs until the client's connect timeout.
  asio::io_context local;
  asio::ip::tcp::acceptor acceptor(local, {asio::ip::make_address("127.0.0.1"), 0});
  acceptor.listen(0);
  auto target = acceptor.local_endpoint();
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
  bool saturated = false;
  for (int i = 0; i < 16 && !saturated; ++i) {
    auto s = std::make_unique<asio::ip::tcp::socket>(local);
    bool connected = false;
    s->async_connect(target, [&](const boost::system::error_code& ec) { connected = !ec; });
    local.restart();
    local.run_for(300ms);
    if (!connected) saturated = true;
    fillers.push_back(std::move(s));
  }
  ASSERT_TRUE(saturated) << "could not fill the accept queue";
  Endpoint ep{false, "127.0.0.1", target.port()};
  ClientOptions options;
  options.connect_timeout = 200ms;
  auto r = Client(ep, {}, options)->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ep.HostPort() + ": connect: timed out");
}

TEST_F(HttpClientTest, ConnectRefusedIsAConnectError) {
  asio::io_context local;
  asio::ip::tcp::acceptor acceptor(local, {asio::ip::make_address("127.0.0.1"), 0});
  uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  Endpoint ep{false, "127.0.0.1", port};
  auto r = Client(ep, {})->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith(ep.HostPort() + ": connect: "));
}

TEST_F(HttpClientTest, SlowResponseHitsTheDeadlineInReadPhase) {
  constexpr auto kServerDelay = 3s;
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&](const SeenRequest& req) {
    Reply r = Echo(req);
    r.delay = kServerDelay;
    return r;
  });
  auto start = std::chrono::steady_clock::now();
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 800ms, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), server.endpoint().HostPort() + ": read: timed out");
  // A client that waited for the answer cannot return before the server's delay (which starts
  // after `start`), so the bound never passes it; the right one (0.8 s) has 2.2 s of headroom.
  EXPECT_LT(std::chrono::steady_clock::now() - start, kServerDelay);
}

TEST_F(HttpClientTest, TricklingResponseCannotOutliveTheOverallDeadline) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r = Reply::Ok(std::string(200, 'y'));
    r.trickle = 20ms;  // a byte every 20 ms keeps each read short but the whole slow
    return r;
  });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 1s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(": read: timed out"));
}

TEST_F(HttpClientTest, BodySpanningManyTlsRecordsArrivesIntactOnOneConnection) {
  // Content-Length bodies are read straight into the response; several 16 KiB records, with
  // the start of the body in the same read as the header.
  std::string body;
  for (int i = 0; body.size() < 100 * 1024; ++i) body += "line " + std::to_string(i) + "\n";
  LocalHttpsServer server(TlsServer(pki_.ServerCert()),
                          [&body](const SeenRequest&) { return Reply::Ok(body); });
  auto client = Client(server.endpoint(), TrustingPki());
  for (int i = 0; i < 3; ++i) {
    auto r = client->SendSync(Get("/big"), 5s, kMiB);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body.size(), body.size());
    EXPECT_TRUE(r->body == body);
  }
  EXPECT_EQ(server.connections_accepted(), 1u);
}

TEST_F(HttpClientTest, EmptyBodiesKeepTheConnectionUsable) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    Reply r;
    if (req.target == "/empty")
      r.raw = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    else if (req.target == "/no-content")
      r.raw = "HTTP/1.1 204 No Content\r\n\r\n";
    else
      return Echo(req);
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  auto r = client->SendSync(Get("/empty"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "");
  r = client->SendSync(Get("/no-content"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 204u);
  EXPECT_EQ(r->body, "");
  r = client->SendSync(Get("/after"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/after");
}

TEST_F(HttpClientTest, ChunkedBodyIsDecoded) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    if (req.target != "/chunked") return Echo(req);
    Reply r;
    r.raw =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  auto r = client->SendSync(Get("/chunked"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "hello world");
  EXPECT_EQ(r->content_type, "text/plain");
  // The connection stays usable after a chunked body.
  r = client->SendSync(Get("/after"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/after");
}

TEST_F(HttpClientTest, OversizedBodyIsRejectedWithTheLimit) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r;
    r.huge_body_bytes = 3 * kMiB;
    return r;
  });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            server.endpoint().HostPort() + ": read: body exceeds limit of 1048576 bytes");
}

TEST_F(HttpClientTest, OversizedHeaderIsRejectedWithTheLimit) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r = Reply::Ok("x");
    r.headers = {{"X-Big", std::string(8192, 'h')}};
    return r;
  });
  ClientOptions options;
  options.max_header_bytes = 4096;
  auto r = Client(server.endpoint(), TrustingPki(), options)->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("read: response header exceeds limit of 4096 bytes"));
}

TEST_F(HttpClientTest, GarbageResponseIsAParseError) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest&) {
    Reply r;
    r.raw = "SSH-2.0-OpenSSH_9.2\r\n\x01\x02garbage\r\n\r\n";
    return r;
  });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith(server.endpoint().HostPort() + ": read: malformed response ("));
}

TEST_F(HttpClientTest, ErrorStatusIsAResponse) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()),
                          [](const SeenRequest&) { return Reply::Status(500, "boom"); });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 500u);
  EXPECT_EQ(r->body, "boom");
}

TEST_F(HttpClientTest, PostSendsBodyHeadersAndContentType) {
  ServerOptions o;
  o.tls = false;
  LocalHttpsServer server(o, [](const SeenRequest& req) { return Reply::Status(201, req.body); });
  auto client = Client(server.endpoint(), {});
  Request req;
  req.method = boost::beast::http::verb::post;
  req.target = "/apis/authentication.k8s.io/v1/tokenreviews";
  req.body = "{\"kind\":\"TokenReview\"}";
  req.content_type = "application/json";
  req.headers = {{"Accept", "application/json"}};
  auto r = client->SendSync(req, 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 201u);
  EXPECT_EQ(r->body, req.body);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].Header("Content-Type"), "application/json");
  EXPECT_EQ(seen[0].Header("Accept"), "application/json");
  EXPECT_EQ(seen[0].Header("Content-Length"), std::to_string(req.body.size()));
}

TEST_F(HttpClientTest, BearerTokenIsSentAndFollowsTheFile) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), Echo);
  std::string path = pki_.dir().Write("token", "  first-token\n");
  FileTokenSource source(path, 0ms);
  ClientOptions options;
  options.token = source.AsProvider();
  auto client = Client(server.endpoint(), TrustingPki(), options);
  ASSERT_TRUE(client->SendSync(Get("/1"), 5s, kMiB).ok());
  pki_.dir().Write("token", "second-token-longer\n");
  ASSERT_TRUE(client->SendSync(Get("/2"), 5s, kMiB).ok());
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].Header("Authorization"), "Bearer first-token");
  EXPECT_EQ(seen[1].Header("Authorization"), "Bearer second-token-longer");
}

// Collects what a Stream call delivers; safe to read from the test thread.
struct StreamProbe {
  base::Mutex mu;
  base::CondVar cv;
  unsigned status GUARDED_BY(mu) = 0;
  std::string content_type GUARDED_BY(mu);
  std::string data GUARDED_BY(mu);
  int headers_calls GUARDED_BY(mu) = 0;
  std::promise<base::Status> done;

  StreamHandlers Handlers(std::function<bool(const std::string&)> keep_going = nullptr) {
    StreamHandlers h;
    h.on_headers = [this](unsigned s, std::string_view ct) {
      base::MutexLock lock(mu);
      status = s;
      content_type = std::string(ct);
      ++headers_calls;
      return true;
    };
    h.on_data = [this, keep_going](std::string_view d) {
      base::MutexLock lock(mu);
      data.append(d);
      cv.NotifyAll();
      return keep_going ? keep_going(data) : true;
    };
    return h;
  }
  std::function<void(base::Status)> Done() {
    return [this](base::Status st) { done.set_value(std::move(st)); };
  }
  bool WaitFor(const std::string& want) {
    base::MutexLock lock(mu);
    return cv.WaitFor(mu, 10s, [&]() REQUIRES(mu) { return data == want; });
  }
  std::string Data() {
    base::MutexLock lock(mu);
    return data;
  }
};

TEST_F(HttpClientTest, StreamDeliversChunksInOrderAsTheyArrive) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest& req) {
    if (req.target == "/after") return Echo(req);
    Reply r;
    r.content_type = "application/json";
    r.stream = feed;
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  StreamProbe probe;
  auto done = probe.done.get_future();
  client->Stream(Get("/api/v1/pods?watch=1"), 5s, 5s, 0, probe.Handlers(), probe.Done());
  // Each chunk must arrive before the next is even sent: bytes are delivered as they come.
  feed->Push("{\"type\":\"ADDED\"}\n");
  ASSERT_TRUE(probe.WaitFor("{\"type\":\"ADDED\"}\n"));
  feed->Push("{\"type\":");
  ASSERT_TRUE(probe.WaitFor("{\"type\":\"ADDED\"}\n{\"type\":"));
  feed->Push("\"DELETED\"}\n");
  ASSERT_TRUE(probe.WaitFor("{\"type\":\"ADDED\"}\n{\"type\":\"DELETED\"}\n"));
  feed->End();
  base::Status st = Await(done);
  EXPECT_TRUE(st.ok()) << st.message();
  {
    base::MutexLock lock(probe.mu);
    EXPECT_EQ(probe.status, 200u);
    EXPECT_EQ(probe.content_type, "application/json");
    EXPECT_EQ(probe.headers_calls, 1);
  }
  // A cleanly ended stream leaves the connection reusable.
  auto r = client->SendSync(Get("/after"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(server.connections_accepted(), 1u);
}

TEST_F(HttpClientTest, StreamHonoursIdleTimeout) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest&) {
    Reply r;
    r.stream = feed;
    return r;
  });
  feed->Push("only");
  StreamProbe probe;
  auto done = probe.done.get_future();
  Client(server.endpoint(), TrustingPki())
      ->Stream(Get("/watch"), 5s, 200ms, 0, probe.Handlers(), probe.Done());
  base::Status st = Await(done);
  EXPECT_EQ(st.message(), server.endpoint().HostPort() + ": read: idle timeout after 200ms");
  EXPECT_EQ(probe.Data(), "only");
}

TEST_F(HttpClientTest, StreamStopsWhenAHandlerSaysSo) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest&) {
    Reply r;
    r.stream = feed;
    return r;
  });
  feed->Push("first");
  StreamProbe probe;
  auto done = probe.done.get_future();
  auto client = Client(server.endpoint(), TrustingPki());
  client->Stream(Get("/watch"), 5s, 5s, 0, probe.Handlers([](const std::string&) { return false; }),
                 probe.Done());
  base::Status st = Await(done);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(probe.Data(), "first");

  // on_headers can refuse too, before any data.
  StreamProbe refuse;
  auto refused = refuse.done.get_future();
  StreamHandlers h = refuse.Handlers();
  h.on_headers = [](unsigned, std::string_view) { return false; };
  client->Stream(Get("/watch"), 5s, 5s, 0, h, refuse.Done());
  st = Await(refused);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(refuse.Data(), "");
}

TEST_F(HttpClientTest, StreamCapIsEnforced) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest&) {
    Reply r;
    r.stream = feed;
    return r;
  });
  feed->Push("0123456789");
  feed->Push("abcdefghij");
  StreamProbe probe;
  auto done = probe.done.get_future();
  Client(server.endpoint(), TrustingPki())
      ->Stream(Get("/watch"), 5s, 5s, 15, probe.Handlers(), probe.Done());
  base::Status st = Await(done);
  EXPECT_THAT(st.message(), HasSubstr("read: body exceeds limit of 15 bytes"));
}

TEST_F(HttpClientTest, StreamOfAnOrdinaryResponseDeliversItsBody) {
  ServerOptions o;
  o.tls = false;
  LocalHttpsServer server(o, [](const SeenRequest&) { return Reply::Status(410, "gone"); });
  StreamProbe probe;
  auto done = probe.done.get_future();
  Client(server.endpoint(), {})->Stream(Get("/watch"), 5s, 5s, 0, probe.Handlers(), probe.Done());
  base::Status st = Await(done);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(probe.Data(), "gone");
  base::MutexLock lock(probe.mu);
  EXPECT_EQ(probe.status, 410u);
}

TEST_F(HttpClientTest, StreamAbortedByServerIsAnError) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest&) {
    Reply r;
    r.stream = feed;
    return r;
  });
  feed->Push("part");
  feed->Abort();
  StreamProbe probe;
  auto done = probe.done.get_future();
  Client(server.endpoint(), TrustingPki())
      ->Stream(Get("/watch"), 5s, 5s, 0, probe.Handlers(), probe.Done());
  base::Status st = Await(done);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr(": read: "));
  EXPECT_EQ(probe.Data(), "part");
}

TEST_F(HttpClientTest, CloseFailsRunningAndQueuedCallsAndClientStaysUsable) {
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    Reply r = Echo(req);
    if (req.target == "/slow") r.delay = 5s;
    return r;
  });
  auto client = Client(server.endpoint(), TrustingPki());
  std::vector<std::promise<base::Result<Response>>> results(3);
  for (auto& p : results) {
    client->Send(Get("/slow"), std::chrono::steady_clock::now() + 10s, kMiB,
                 [&p](base::Result<Response> r) { p.set_value(std::move(r)); });
  }
  ASSERT_TRUE(server.WaitForRequests(1, 5s));
  auto start = std::chrono::steady_clock::now();
  client->Close();
  client->Close();  // idempotent
  for (auto& p : results) {
    auto f = p.get_future();
    auto r = Await(f);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), server.endpoint().HostPort() + ": cancelled");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  auto r = client->SendSync(Get("/fast"), 5s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/fast");
}

TEST_F(HttpClientTest, CloseEndsAStream) {
  auto feed = std::make_shared<ChunkFeed>();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [feed](const SeenRequest&) {
    Reply r;
    r.stream = feed;
    return r;
  });
  feed->Push("x");
  StreamProbe probe;
  auto done = probe.done.get_future();
  auto client = Client(server.endpoint(), TrustingPki());
  client->Stream(Get("/watch"), 5s, 30s, 0, probe.Handlers(), probe.Done());
  ASSERT_TRUE(probe.WaitFor("x"));
  client->Close();
  base::Status st = Await(done);
  EXPECT_EQ(st.message(), server.endpoint().HostPort() + ": cancelled");
}

TEST_F(HttpClientTest, ClientOutlivedByNothingButItsPendingCall) {
  // Dropping the last reference while a call is in flight is safe: the call completes.
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [](const SeenRequest& req) {
    Reply r = Echo(req);
    r.delay = 100ms;
    return r;
  });
  std::promise<base::Result<Response>> p;
  auto f = p.get_future();
  Client(server.endpoint(), TrustingPki())
      ->Send(Get("/orphan"), std::chrono::steady_clock::now() + 5s, kMiB,
             [&p](base::Result<Response> r) { p.set_value(std::move(r)); });
  auto r = Await(f);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "path=/orphan");
}

// What a hostile server (or anything on the path under insecure TLS) can send: a response whose
// framing never ends, or never adds up to a body. Every case is followed by up to 256 MiB of
// `filler`; the client must fail on its own limits, after reading at most the response limit
// plus its read buffer, and hold no more than that.
struct HostileResponse {
  const char* name;
  std::string head;    // sent first
  std::string filler;  // then repeated
  const char* error;   // expected in the error, after "<host:port>: read: "
};

std::ostream& operator<<(std::ostream& os, const HostileResponse& c) { return os << c.name; }

const std::string kChunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const char* const kFramingError = "chunk header or trailer exceeds 65536 bytes";
const char* const kHeaderError = "response header exceeds limit of 65536 bytes";
const char* const kBodyError = "body exceeds limit of 1048576 bytes";

const HostileResponse kHostileResponses[] = {
    {"endless_chunk_extension", kChunked + "1;", "a", kFramingError},
    {"endless_chunk_extension_value", kChunked + "1;name=\"", "a", kFramingError},
    {"endless_chunk_size", kChunked, "0", kFramingError},
    {"endless_trailer_line", kChunked + "0\r\nX-Trailer: ", "a", kFramingError},
    {"endless_trailer_section", kChunked + "0\r\n", "X-Trailer: a\r\n", kFramingError},
    {"extension_on_every_chunk", kChunked, "1;" + std::string(8000, 'e') + "\r\nz\r\n", kBodyError},
    {"one_byte_chunks", kChunked, "1\r\nz\r\n", kBodyError},
    {"endless_header_line", "HTTP/1.1 200 OK\r\nX-Header: ", "a", kHeaderError},
    {"endless_header_section", "HTTP/1.1 200 OK\r\n", "X-Header: a\r\n", kHeaderError},
    {"endless_obs_fold", "HTTP/1.1 200 OK\r\nX-Header: a\r\n", " folded\r\n", kHeaderError},
    {"endless_status_line", "HTTP/1.1 200 ", "O", kHeaderError},
    {"body_until_close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "x", kBodyError},
    {"content_length_and_chunked",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\nz\r\n",
     "malformed response"},
    {"duplicate_content_length",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "x",
     "malformed response"},
    {"nul_in_header", std::string("HTTP/1.1 200 OK\r\nX-Header: a\0b\r\n\r\n", 34), "x",
     "malformed response"},
};

class HostileResponseTest : public HttpClientTest,
                            public ::testing::WithParamInterface<HostileResponse> {};

TEST_P(HostileResponseTest, FailsWithinTheLimitsWithoutBufferingTheStream) {
  const HostileResponse& c = GetParam();
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&c](const SeenRequest&) {
    Reply r;
    r.raw = c.head;
    r.filler = c.filler;
    r.filler_bytes = 256 * kMiB;
    return r;
  });
  const long rss_before = testing_support::ProcStatusKiB("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/metrics/resource"), 20s, kMiB);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok()) << "status " << r->status << ", " << r->body.size() << " body bytes";
  EXPECT_THAT(r.error(), StartsWith(server.endpoint().HostPort() + ": read: "));
  EXPECT_THAT(r.error(), HasSubstr(c.error));
  // The old client buffered the stream until the deadline (20 s, gigabytes); now it stops at
  // the first byte past a limit. The error names the limit, not the deadline, and what the
  // server got out before it noticed the closed connection is the limit plus socket and TLS
  // buffers. No wall-clock bound: one-byte chunks under ThreadSanitizer on a loaded machine took
  // 5.1 s once; the time is printed for the record.
  EXPECT_THAT(r.error(), Not(HasSubstr("timed out")));
  EXPECT_LT(server.filler_bytes_written(), 24 * kMiB);
  std::printf("%s: failed after %lld ms\n", c.name,
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  EXPECT_LT(testing_support::ProcStatusKiB("VmRSS") - rss_before, 32 * 1024) << "KiB of RSS growth";
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileResponseTest, ::testing::ValuesIn(kHostileResponses),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(HttpClientTest, StreamFramingIsBoundedByTheReadBuffer) {
  // Streams (watches) usually have no overall cap: the read buffer alone bounds a head, a
  // chunk-size line and a trailer section.
  for (const HostileResponse& c : kHostileResponses) {
    if (std::string_view(c.error) != kFramingError && std::string_view(c.error) != kHeaderError)
      continue;
    SCOPED_TRACE(c.name);
    LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&c](const SeenRequest&) {
      Reply r;
      r.raw = c.head;
      r.filler = c.filler;
      r.filler_bytes = 256 * kMiB;
      return r;
    });
    StreamProbe probe;
    auto done = probe.done.get_future();
    Client(server.endpoint(), TrustingPki())
        ->Stream(Get("/watch"), 5s, 5s, 0, probe.Handlers(), probe.Done());
    base::Status st = Await(done);
    EXPECT_THAT(st.message(), HasSubstr(c.error));
    EXPECT_LT(server.filler_bytes_written(), 24 * kMiB);
  }
}

TEST_F(HttpClientTest, ChunkExtensionsTrailersAndFramingWithinTheLimitsAreAccepted) {
  // 1 MiB in 2 KiB chunks with an extension each (Go servers write chunks of about 2 KiB) and
  // a trailer: the framing allowance above the body limit covers it.
  std::string raw = kChunked;
  const std::string chunk(2048, 'c');
  for (std::size_t i = 0; i < kMiB / chunk.size(); ++i)
    raw += "800;i=" + std::to_string(i) + "\r\n" + chunk + "\r\n";
  raw += "0\r\nX-Trailer: done\r\n\r\n";
  LocalHttpsServer server(TlsServer(pki_.ServerCert()), [&raw](const SeenRequest& req) {
    if (req.target != "/chunked") return Echo(req);
    Reply r;
    r.raw = raw;
    return r;
  });
  auto r = Client(server.endpoint(), TrustingPki())->SendSync(Get("/chunked"), 10s, kMiB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body.size(), kMiB);
}

TEST_F(HttpClientTest, KubeletStyleChunkedAnswersInSmallRecordsReadWhole) {
  // A kubelet sends /metrics/resource chunked, in 4 KiB TLS records with one write each
  // (SimKubelets' go_framing). Read several times over one kept-alive connection: the first
  // through OpenSSL, the rest on the handed-over record layer, which fills a read with every
  // record it holds.
  std::string text;
  for (int i = 0; text.size() < 100'000; ++i)
    text += "container_cpu_usage_seconds_total{container=\"c" + std::to_string(i) + "\"} " +
            std::to_string(i * 0.25) + " 1700000000000\n";
  asio::io_context kubelet_io(1);
  auto tls = testing_support::MakeKubeletServerContext(pki_.ServerCert());
  ASSERT_TRUE(tls.ok()) << tls.error();
  testing_support::SimKubelets kubelets(
      kubelet_io, *tls, [&text](int, int64_t, std::string* body) { *body = text; },
      /*gzip=*/false, /*summary=*/nullptr, /*protobuf=*/false, /*go_framing=*/true);
  auto port = kubelets.Listen(0, 0);
  ASSERT_TRUE(port.ok()) << port.error();
  std::thread kubelet_thread([&kubelet_io] { kubelet_io.run(); });

  // The answer is chunked (read once with Beast over a plain OpenSSL stream).
  {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
    stream.next_layer().connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
    stream.handshake(asio::ssl::stream_base::client);
    boost::beast::http::request<boost::beast::http::empty_body> req(boost::beast::http::verb::get,
                                                                    "/metrics/resource", 11);
    req.set(boost::beast::http::field::host, "127.0.0.1");
    boost::beast::http::write(stream, req);
    boost::beast::flat_buffer buffer;
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.body_limit(kMiB);
    boost::beast::http::read(stream, buffer, parser);
    EXPECT_TRUE(parser.chunked());
    EXPECT_EQ(parser.get().body(), text);
  }

  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = *port;
  auto client = Client(ep, TrustingPki());
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    auto r = client->SendSync(Get("/metrics/resource"), 10s, kMiB);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body.size(), text.size());
    EXPECT_TRUE(r->body == text);
  }
  EXPECT_EQ(kubelets.responses(), 5u);
  kubelets.Close();
  kubelet_io.stop();
  kubelet_thread.join();
}

}  // namespace
}  // namespace net
