// Measures the client's CPU and memory cost per request against a local TLS server running in
// a child process (so only the client is measured). Prints numbers; asserts nothing.
//
//   http_client_bench [requests=2000] [body_bytes=12000] [clients=300] [tls|plain]
#include <malloc.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "test/testing/local_https_server.h"
#include "test/testing/test_pki.h"

namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs `count` sequential requests on `client` (each starts when the previous finished) and
// returns the client thread's CPU seconds.
double RunSequential(boost::asio::io_context& io, net::HttpClient& client, int count, int* failures,
                     const char* target = "/metrics/resource") {
  int left = count;
  std::function<void()> next = [&] {
    if (left-- == 0) return;
    net::Request req;
    req.target = target;
    client.Send(std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(10),
                1 << 20, [&](base::Result<net::Response> r) {
                  if (!r.ok() || r->status != 200) ++*failures;
                  next();
                });
  };
  double start = ThreadCpuSeconds();
  next();
  io.restart();
  io.run();
  return ThreadCpuSeconds() - start;
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::size_t body_bytes = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 12000;
  int clients = argc > 3 ? std::atoi(argv[3]) : 300;
  bool tls = argc <= 4 || std::string(argv[4]) != "plain";

  testing_support::TestPki pki;
  auto server_cert = pki.ServerCert();
  int port_pipe[2], stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    testing_support::ServerOptions o;
    o.certificate = server_cert;
    o.tls = tls;
    std::string body(body_bytes, 'm');
    testing_support::LocalHttpsServer server(o, [&body](const testing_support::SeenRequest& req) {
      auto reply = testing_support::Reply::Ok(body);
      reply.close_after = req.target == "/close";
      return reply;
    });
    uint16_t port = server.port();
    if (write(port_pipe[1], &port, sizeof port) != sizeof port) _exit(1);
    char c;
    while (read(stop_pipe[0], &c, 1) > 0) {
    }
    _exit(0);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  uint16_t port = 0;
  if (read(port_pipe[0], &port, sizeof port) != sizeof port) return 1;

  net::TlsClientConfig config;
  config.ca_data = pki.ca().cert_pem;
  auto ctx = net::MakeClientContext(config);
  if (!ctx.ok()) {
    std::fprintf(stderr, "%s\n", ctx.error().c_str());
    return 1;
  }
  net::Endpoint ep{tls, "127.0.0.1", port};
  boost::asio::io_context io(1);
  int failures = 0;

  {
    auto client = net::HttpClient::Create(io, *ctx, ep, {});
    RunSequential(io, *client, 20, &failures);  // warm up
    double cpu = RunSequential(io, *client, requests, &failures);
    std::printf("keep-alive %s GET, %zu-byte body: %.1f us client CPU/request (%d requests)\n",
                tls ? "TLS" : "plain", body_bytes, cpu * 1e6 / requests, requests);
  }
  {
    int n = std::max(1, requests / 10);
    double cpu = 0;
    for (int i = 0; i < n; ++i) {
      auto client = net::HttpClient::Create(io, *ctx, ep, {});
      cpu += RunSequential(io, *client, 1, &failures);
    }
    std::printf("new client, new connection + GET: %.1f us client CPU/request (%d)\n",
                cpu * 1e6 / n, n);
  }
  {
    int n = std::max(1, requests / 10);
    auto client = net::HttpClient::Create(io, *ctx, ep, {});
    RunSequential(io, *client, 1, &failures);
    double cpu = RunSequential(io, *client, n, &failures, "/close");
    std::printf(
        "same client, server closes after each response (%s): %.1f us client CPU/request "
        "(%d)\n",
        tls ? "TLS session resumed" : "plain", cpu * 1e6 / n, n);
  }
  {
    std::vector<std::shared_ptr<net::HttpClient>> idle;
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < clients; ++i) {
      idle.push_back(net::HttpClient::Create(io, *ctx, ep, {}));
      // Two requests: the first one's response brings the TLS 1.3 session tickets, and reading
      // them sets up OpenSSL's write buffer too, which stays until the next write releases it
      // (SSL_MODE_RELEASE_BUFFERS); from the second request on, as in every later tick, the
      // idle connection holds neither buffer.
      RunSequential(io, *idle.back(), 2, &failures);
    }
    struct mallinfo2 after = mallinfo2();
    std::printf("heap held per idle kept-alive client: %.1f KiB (%d clients)\n",
                static_cast<double>(after.uordblks - before.uordblks) / 1024.0 / clients, clients);
    // Three "ticks": every kept-alive client sends at once, all on this one thread.
    for (int tick = 0; tick < 3; ++tick) {
      int pending = clients;
      double start = ThreadCpuSeconds();
      auto tick_start = std::chrono::steady_clock::now();
      for (auto& client : idle) {
        net::Request req;
        req.target = "/metrics/resource";
        client->Send(std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(10),
                     1 << 20, [&](base::Result<net::Response> r) {
                       if (!r.ok() || r->status != 200) ++failures;
                       --pending;
                     });
      }
      io.restart();
      io.run();
      double cpu = ThreadCpuSeconds() - start;
      double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - tick_start).count();
      std::printf(
          "concurrent tick over %d kept-alive clients: %.1f us client CPU/request, %.1f ms "
          "wall (unfinished %d)\n",
          clients, cpu * 1e6 / clients, wall * 1e3, pending);
    }
  }
  std::printf("failures: %d\n", failures);
  close(stop_pipe[1]);
  waitpid(child, nullptr, 0);
  return failures == 0 ? 0 : 1;
}
