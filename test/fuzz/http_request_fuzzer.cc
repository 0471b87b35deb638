// libFuzzer target for raw HTTP/1.1 request bytes through the server's request handling, without
// sockets: the Beast parser with the server's limits (apiserver/http_parser.h, as a connection
// uses it), pipelined requests on one connection, then the whole ApiHandler pipeline:
// authentication (front-proxy headers, client certificates, bearer tokens), authorization,
// routing, negotiation and the handlers. Also run over the seed corpus by
// http_request_corpus_test.
//
// Input: the first byte picks the client certificate of the connection (modulo 4: none, the
// front proxy's, a system:masters client's, one from an unknown CA); the rest is what the client
// sends. Invariants: the parser never needs more unconsumed bytes than a connection's read
// buffer holds (ReadBufferLimit); a request announcing a body is refused after its head (413)
// and no body byte is parsed; a limit or syntax error answers 400/413/414/431; every other
// request gets exactly one response,
// synchronously (no token reviewer), with a known status and a Content-Type; JSON bodies parse
// (a 304 has none); the server's own metrics keep a bounded number of series whatever the
// requests.
#include <nlohmann/json.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "apiserver/api_handler.h"
#include "apiserver/http_parser.h"
#include "net/pki.h"
#include "test/apiserver/peer.h"
#include "test/fuzz/fixed_window.h"
#include "window/publication.h"

namespace {

net::CertAndKey Issue(const net::CertAndKey& ca, const std::string& cn,
                      std::vector<std::string> groups) {
  net::CertificateSpec spec;
  spec.common_name = cn;
  spec.organizations = std::move(groups);
  spec.client_auth = true;
  auto issued = net::IssueCertificate(spec, ca);
  if (!issued.ok()) std::abort();
  return *issued;
}

struct Fixture {
  Fixture() {
    nodes.Replace({{"node-1", {{"role", "worker"}}, {}, {}, 0, 0, 0}});
    pods.Replace({{"default", "web-0", {{"app", "web"}}}});
    windows.Publish(fuzz_support::FixedWindow());
    auto client_ca = net::MakeCa("client-ca");
    auto proxy_ca = net::MakeCa("front-proxy-ca");
    auto other_ca = net::MakeCa("unknown-ca");
    if (!client_ca.ok() || !proxy_ca.ok() || !other_ca.ok()) std::abort();
    kube::AuthenticationConfig config;
    config.client_ca_pem = client_ca->cert_pem;
    config.requestheader_client_ca_pem = proxy_ca->cert_pem;
    config.allowed_names = {"front-proxy-client"};
    config.username_headers = {"X-Remote-User"};
    config.uid_headers = {"X-Remote-Uid"};
    config.group_headers = {"X-Remote-Group"};
    config.extra_headers_prefix = {"X-Remote-Extra-"};
    auto compiled = apiserver::CompiledAuthConfig::Compile(config);
    if (!compiled.ok()) std::abort();
    authn.SetConfig(*compiled);
    peers[1] = apiserver::testing::Peer(Issue(*proxy_ca, "front-proxy-client", {}).cert_pem);
    peers[2] = apiserver::testing::Peer(Issue(*client_ca, "admin", {"system:masters"}).cert_pem);
    peers[3] = apiserver::testing::Peer(Issue(*other_ca, "admin", {"system:masters"}).cert_pem);
    health.Add("ping",
               apiserver::HealthChecks::kHealthz | apiserver::HealthChecks::kLivez |
                   apiserver::HealthChecks::kReadyz,
               [] { return base::Status::Ok(); });
    health.Add("metric-storage-ready", apiserver::HealthChecks::kReadyz,
               [] { return base::Status::Error("no data"); });
    options.header_limit_bytes = 4096;  // small, so the fuzzer reaches the limits
  }
  window::Publication windows;
  kube::NodeCache nodes;
  kube::PodCache pods;
  base::ManualClock clock;
  apiserver::RequestAuthenticator authn{nullptr};
  apiserver::RequestAuthorizer authz{{"/healthz", "/readyz", "/livez", "/openapi/*"}, nullptr};
  apiserver::MetricsApi api{windows, nodes, pods, clock, {}};
  apiserver::HealthChecks health;
  apiserver::OpenApi openapi{{"v1beta1", "v1"}};
  base::MetricsRegistry registry;
  apiserver::ServerMetrics metrics = apiserver::ServerMetrics::Create(registry);
  apiserver::ApiHandler handler{{authn, authz, api, health, openapi, registry, metrics, clock}};
  apiserver::ServerOptions options;
  std::shared_ptr<const apiserver::PeerCertificates> peers[4];
};

void CheckResponse(const apiserver::HttpResponse& r) {
  switch (r.status) {
    case 200:
    case 304:
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 406:
    case 413:
    case 414:
    case 431:
    case 500:
      break;
    default:
      std::abort();
  }
  if (r.content_type.empty()) std::abort();
  if (r.status == 304) {
    if (!r.body.empty()) std::abort();  // Not Modified carries no body
  } else if (r.content_type == "application/json" && !nlohmann::json::accept(r.body)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  if (size == 0) return 0;
  const auto& peer = fixture->peers[data[0] % 4];
  const size_t buffer_limit = apiserver::ReadBufferLimit(fixture->options);
  boost::asio::const_buffer rest(data + 1, size - 1);
  // Pipelined requests on one keep-alive connection, as a session reads them.
  for (int request = 0; request < 8 && rest.size() > 0; ++request) {
    apiserver::RequestParser parser;
    apiserver::ApplyLimits(fixture->options, parser);
    boost::beast::error_code ec;
    // The head, as async_read_header parses it out of the connection's read buffer.
    for (int step = 0; step < 64 && !parser.is_header_done() && !ec; ++step) {
      const size_t available = rest.size();
      size_t used = parser.put(rest, ec);
      rest += used;
      if (ec == boost::beast::http::error::need_more) {
        // The read buffer holds at most buffer_limit bytes: a parser that still wants more
        // than that before it makes progress would need the buffer to grow without bound
        // (an endless chunk-size line or trailer did exactly that).
        if (used == 0 && available >= buffer_limit) std::abort();
        if (rest.size() > 0 && used > 0) {
          ec = {};
          continue;
        }
        parser.put_eof(ec);  // the client closed the connection here
      }
    }
    if (ec) {
      const std::string_view unparsed(static_cast<const char*>(rest.data()), rest.size());
      if (auto r = apiserver::ReadErrorResponse(ec, parser, unparsed)) {
        CheckResponse(*r);
        if (r->status != 400 && r->status != 413 && r->status != 414 && r->status != 431)
          std::abort();
      }
      break;  // the connection closes
    }
    if (!parser.is_header_done()) break;
    // No body byte is ever parsed: a request announcing one is refused here.
    if (auto refused = apiserver::RefuseHead(parser)) {
      CheckResponse(*refused);
      if (refused->status != 413 && refused->status != 414) std::abort();
      break;  // the connection closes
    }
    if (!parser.is_done()) std::abort();  // RefuseHead passes only requests without a body
    apiserver::RequestMessage message = parser.release();
    const bool keep_alive = message.keep_alive();
    int responses = 0;
    fixture->handler.Handle(apiserver::ToHttpRequest(message, peer),
                            [&responses](apiserver::HttpResponse r) {
                              CheckResponse(r);
                              ++responses;
                            });
    if (responses != 1) std::abort();
    if (!keep_alive) break;
  }
  // The label sets of the server's own metrics are closed: verbs x served resources x status
  // codes stay far below this however many odd requests arrive.
  static int runs = 0;
  if (++runs % 1000 == 0 && fixture->registry.Render().size() > (2u << 20)) std::abort();
  return 0;
}
