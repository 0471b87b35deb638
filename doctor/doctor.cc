#include "doctor/doctor.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/flags.h"
#include "doctor/checks.h"
#include "kube/auth.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/json_fields.h"

namespace doctor {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::size_t kMaxBody = 64u << 20;

struct Settings {
  std::string kubeconfig;
  std::string context;
  std::string output = "text";
  Target target;
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
  milliseconds Timeout() const { return std::chrono::duration_cast<milliseconds>(timeout); }
};

// A blocking view of the cluster's API for one run, on its own io thread.
class Cluster {
 public:
  explicit Cluster(milliseconds timeout)
      : timeout_(timeout), work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~Cluster() {
    client_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  base::Status Connect(const kube::RestConfig& rest) {
    auto client = kube::ApiClient::Create(io_, rest);
    if (!client.ok()) return client.status();
    client_ = std::move(client).value();
    return base::Status::Ok();
  }

  base::Result<net::Response> Send(net::Request request) {
    auto promise = std::make_shared<std::promise<base::Result<net::Response>>>();
    auto future = promise->get_future();
    client_->Send(std::move(request), timeout_, kMaxBody,
                  [promise](base::Result<net::Response> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(timeout_ + std::chrono::seconds(5)) != std::future_status::ready) {
      return base::MakeError("no answer");
    }
    return future.get();
  }

  // The object at `path`; nullopt when it does not exist (404).
  base::Result<std::optional<json>> Get(const std::string& path) {
    net::Request request;
    request.target = client_->Target(path);
    request.headers.emplace_back("Accept", "application/json");
    auto r = Send(std::move(request));
    if (!r.ok()) return base::MakeError(path + ": " + r.error());
    if (r->status == 404) return std::optional<json>();
    if (base::Status s = kube::ErrorFromResponse(*r); !s.ok()) return s.Wrap(path);
    auto j = kube::ParseJson(r->body);
    if (!j.ok()) return base::MakeError(path + ": " + j.error());
    return std::optional<json>(std::move(j).value());
  }

  base::Result<kube::Decision> Review(const kube::Attributes& a) {
    net::Request request;
    request.method = boost::beast::http::verb::post;
    request.target = client_->Target("/apis/authorization.k8s.io/v1/subjectaccessreviews");
    request.body = kube::EncodeSubjectAccessReview(a);
    request.content_type = "application/json";
    auto r = Send(std::move(request));
    if (!r.ok()) return base::MakeError(r.error());
    if (base::Status s = kube::ErrorFromResponse(*r); !s.ok()) return s;
    return kube::DecodeSubjectAccessReview(r->body);
  }

  boost::asio::io_context& io() { return io_; }

 private:
  milliseconds timeout_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unique_ptr<kube::ApiClient> client_;
};

// The certificates the server presents (leaf first), by a TLS handshake that verifies nothing
// and sends no credentials.
base::Result<std::vector<std::string>> FetchPeerChain(const Address& address,
                                                      const std::string& server_name,
                                                      milliseconds timeout) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<boost::beast::tcp_stream> stream(io, ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), server_name.c_str());
  boost::system::error_code ec;
  std::string phase = "resolve";
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (!ec) {
    phase = "connect";
    stream.next_layer().expires_after(timeout);
    stream.next_layer().async_connect(
        endpoints, [&](boost::system::error_code e, const asio::ip::tcp::endpoint&) {
          ec = e;
          if (e) return;
          phase = "handshake";
          stream.async_handshake(asio::ssl::stream_base::client,
                                 [&](boost::system::error_code he) { ec = he; });
        });
    io.run();
  }
  const std::string where = address.host + ":" + std::to_string(address.port);
  if (ec) return base::MakeError(where + ": " + phase + ": " + ec.message());
  std::vector<std::string> out;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle());
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(bio.get(), sk_X509_value(chain, i));
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    out.emplace_back(data, static_cast<size_t>(n));
  }
  if (out.empty()) return base::MakeError(where + ": no certificate presented");
  return out;
}

// The server's /debug/nodes?failed=true at `address`, verified against `ca_bundle` as
// <service>.<namespace>.svc; with the kubeconfig's client certificate, and its bearer token only
// when the server is verified.
base::Result<json> FetchNodeStates(Cluster& cluster, const kube::RestConfig& rest,
                                   const Address& address, const Target& target,
                                   const std::string& ca_bundle, milliseconds timeout) {
  net::TlsClientConfig tls;
  tls.cert_file = rest.tls.cert_file;
  tls.key_file = rest.tls.key_file;
  tls.cert_data = rest.tls.cert_data;
  tls.key_data = rest.tls.key_data;
  tls.server_name = target.service + "." + target.ns + ".svc";
  net::ClientOptions options;
  options.connect_timeout = timeout;
  options.handshake_timeout = timeout;
  if (ca_bundle.empty()) {
    tls.insecure_skip_verify = true;  // no token goes to an unverified server
    if (tls.cert_file.empty() && tls.cert_data.empty()) {
      return base::MakeError(
          "the APIService has no caBundle to verify the server, and the kubeconfig has no client "
          "certificate (a bearer token is not sent to an unverified server)");
    }
  } else {
    tls.ca_data = ca_bundle;
    options.token = rest.MakeTokenProvider();
  }
  auto ctx = net::MakeClientContext(tls);
  if (!ctx.ok()) return base::MakeError(ctx.error());
  net::Endpoint endpoint;
  endpoint.host = address.host;
  endpoint.port = static_cast<uint16_t>(address.port);
  auto client = net::HttpClient::Create(cluster.io(), *ctx, endpoint, options);
  net::Request request;
  request.target = "/debug/nodes?failed=true";
  auto r = client->SendSync(std::move(request), timeout, kMaxBody);
  client->Close();
  if (!r.ok()) return base::MakeError(r.error());
  if (r->status != 200) {
    return base::MakeError("/debug/nodes answered " + std::to_string(r->status) + ": " +
                           r->body.substr(0, 200));
  }
  return kube::ParseJson(r->body);
}

std::string DecodeBase64(const std::string& in) {
  std::string out((in.size() / 4 + 1) * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return "";
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::vector<Finding> Diagnose(Cluster& cluster, const kube::RestConfig& rest, Target target,
                              milliseconds timeout) {
  std::vector<Finding> findings;
  // 1. The APIServices; the first one says where the server is and which CA to trust.
  std::string ca_bundle;
  bool insecure = false;
  int service_port = 443;
  bool located = false;
  for (size_t i = 0; i < target.apiservices.size(); ++i) {
    const std::string& name = target.apiservices[i];
    auto got = cluster.Get("/apis/apiregistration.k8s.io/v1/apiservices/" + name);
    if (!got.ok()) {
      findings.push_back({"APIService " + name, Verdict::kSkipped, "", got.error()});
      continue;
    }
    const json* obj = got->has_value() ? &**got : nullptr;
    findings.push_back(CheckApiService(name, obj, i == 0));
    if (obj == nullptr || located) continue;
    const json* spec = kube::Field(*obj, "spec");
    const json* svc = spec ? kube::Field(*spec, "service") : nullptr;
    if (!svc || !svc->is_object()) continue;
    located = true;
    if (!kube::StringField(*svc, "namespace").empty())
      target.ns = kube::StringField(*svc, "namespace");
    if (!kube::StringField(*svc, "name").empty()) target.service = kube::StringField(*svc, "name");
    if (const json* p = kube::Field(*svc, "port"); p && p->is_number_integer()) {
      service_port = p->get<int>();
    }
    ca_bundle = DecodeBase64(kube::StringField(*spec, "caBundle"));
    insecure = kube::BoolField(*spec, "insecureSkipTLSVerify");
  }

  // 2. The Service and its EndpointSlices.
  std::vector<Address> addresses;
  auto service = cluster.Get("/api/v1/namespaces/" + target.ns + "/services/" + target.service);
  if (!service.ok()) {
    findings.push_back(
        {"Service " + target.ns + "/" + target.service, Verdict::kSkipped, "", service.error()});
  } else {
    std::optional<json> slices;
    if (service->has_value()) {
      auto got = cluster.Get("/apis/discovery.k8s.io/v1/namespaces/" + target.ns +
                             "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" +
                             target.service);
      if (got.ok()) slices = std::move(*got);
    }
    const json* svc = service->has_value() ? &**service : nullptr;
    findings.push_back(CheckService(target, svc, slices ? &*slices : nullptr, service_port));
    if (svc) addresses = ServerAddresses(*svc, slices ? &*slices : nullptr, service_port);
  }

  // 3. The serving certificate, from the first address that completes a handshake.
  std::vector<std::string> chain;
  std::string handshake_error = addresses.empty() ? "no address to reach the server" : "";
  std::optional<Address> reached;
  for (const auto& a : addresses) {
    auto got = FetchPeerChain(a, target.service + "." + target.ns + ".svc", timeout);
    if (got.ok()) {
      chain = std::move(got).value();
      reached = a;
      break;
    }
    handshake_error = got.error();
  }
  findings.push_back(CheckServingCertificate(target, chain, handshake_error, ca_bundle, insecure));

  // 4. Front proxy.
  auto cm =
      cluster.Get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication");
  if (!cm.ok()) {
    findings.push_back({"Front proxy (kube-system/extension-apiserver-authentication)",
                        Verdict::kSkipped, "", cm.error()});
  } else {
    findings.push_back(CheckFrontProxy(cm->has_value() ? &**cm : nullptr));
  }

  // 5. RBAC.
  std::vector<kube::Attributes> access = RequiredAccess(target);
  std::vector<base::Result<kube::Decision>> decisions;
  for (const auto& a : access) decisions.push_back(cluster.Review(a));
  findings.push_back(CheckRbac(target, access, decisions));

  // 6. Each node's last scrape, from the server.
  if (!reached) {
    for (auto& f : CheckNodeScrapes(nullptr, "the server is not reachable: " + handshake_error)) {
      findings.push_back(std::move(f));
    }
  } else {
    auto states = FetchNodeStates(cluster, rest, *reached, target, ca_bundle, timeout);
    for (auto& f :
         CheckNodeScrapes(states.ok() ? &*states : nullptr, states.ok() ? "" : states.error())) {
      findings.push_back(std::move(f));
    }
  }
  return findings;
}

}  // namespace

int Main(int argc, const char* const* argv) {
  Settings s;
  base::FlagSet flags("cpp-metrics-server doctor",
                      "Checks, read-only, what a metrics.k8s.io request meets on its way "
                      "(APIService, Service, serving certificate, front proxy, RBAC, each "
                      "kubelet) and prints for each a verdict, the evidence and the fix. Exit "
                      "status 0 when healthy, 1 otherwise.");
  flags.String("kubeconfig", &s.kubeconfig,
               "Administrator's kubeconfig (default $KUBECONFIG, else ~/.kube/config).");
  flags.String("context", &s.context, "Kubeconfig context (default: its current context).");
  flags.String("output", &s.output, "Output format: text or json.");
  flags.Shorthand('o', "output");
  flags.String("namespace", &s.target.ns, "Namespace of the server's Service and ServiceAccount.");
  flags.String("service", &s.target.service, "The server's Service.");
  flags.String("service-account", &s.target.service_account, "The server's ServiceAccount.");
  flags.StringList("apiservices", &s.target.apiservices,
                   "APIServices to check; the first must exist, the others may.");
  flags.Duration("timeout", &s.timeout, "Deadline of each request.");
  std::vector<std::string> errors = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (s.output != "text" && s.output != "json") errors.push_back("--output must be text or json");
  if (s.target.apiservices.empty()) errors.push_back("--apiservices must name one at least");
  if (s.kubeconfig.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
      s.kubeconfig = env;
      if (auto colon = s.kubeconfig.find(':'); colon != std::string::npos) {
        s.kubeconfig.resize(colon);
      }
    } else if (const char* home = std::getenv("HOME")) {
      s.kubeconfig = std::string(home) + "/.kube/config";
    }
  }
  base::Result<kube::RestConfig> rest = base::MakeError("no kubeconfig");
  if (errors.empty()) {
    rest = kube::LoadKubeconfig(s.kubeconfig, s.context);
    if (!rest.ok()) errors.push_back(rest.error());
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
    std::fprintf(stderr, "Run 'cpp-metrics-server doctor --help' for usage.\n");
    return 2;
  }
  rest->user_agent = "cpp-metrics-server-doctor";
  Cluster cluster(s.Timeout());
  if (base::Status st = cluster.Connect(*rest); !st.ok()) {
    std::fprintf(stderr, "Error: kubernetes client: %s\n", st.message().c_str());
    return 2;
  }
  std::vector<Finding> findings = Diagnose(cluster, *rest, s.target, s.Timeout());
  const std::string out = s.output == "json" ? RenderJson(findings) : RenderText(findings);
  std::fputs(out.c_str(), stdout);
  return Causes(findings).empty() ? 0 : 1;
}

}  // namespace doctor
