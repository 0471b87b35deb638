#include "exporter/otlp_sink.h"

#include <utility>

#include "exporter/heapster_schema.h"
#include "exporter/otlp_json.h"
#include "exporter/sink_flag.h"

namespace exporter {
namespace {

constexpr std::string_view kPrefix = "otlp:";

// Header names are HTTP tokens; values must not break the request head.
bool ValidHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      return false;
    }
  }
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n' || c == 0) return false;
  }
  return true;
}

}  // namespace

std::string OtlpSinkConfig::Name() const { return std::string(kPrefix) + endpoint.HostPort(); }

base::Result<OtlpSinkConfig> ParseOtlpSinkFlag(std::string_view flag) {
  auto fail = [&](std::string why) {
    return base::MakeError("--sink=" + RedactedSinkFlag(flag, {"headers"}) + ": " + std::move(why));
  };
  if (flag.substr(0, kPrefix.size()) != kPrefix) return fail("not an otlp: sink");
  auto url =
      ParseSinkUrl(flag.substr(kPrefix.size()), "credentials go in headers=, not in the URL");
  if (!url.ok()) return fail(url.error());
  OtlpSinkConfig config;
  config.endpoint.tls = url->https;
  if (!url->host.empty()) config.endpoint.host = url->host;
  if (url->port) config.endpoint.port = *url->port;
  if (!url->path.empty()) config.target = url->path;
  for (const auto& [key, value] : url->options) {
    if (key == "ca") {
      if (value.empty()) return fail("empty ca");
      config.ca_file = value;
    } else if (key == "headers") {
      std::string_view rest = value;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view pair = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        size_t eq = pair.find('=');
        if (eq == std::string_view::npos) return fail("headers: want name=value[,name=value]");
        std::string_view name = pair.substr(0, eq);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        std::string_view header_value = pair.substr(eq + 1);
        if (!ValidHeader(name, header_value)) {
          return fail("headers: bad header \"" + std::string(name) + "\"");
        }
        config.headers.emplace_back(std::string(name), std::string(header_value));
      }
    } else {
      return fail("unknown option \"" + key + "\" (known: ca, headers)");
    }
  }
  if (!config.ca_file.empty() && !config.endpoint.tls) {
    return fail("ca= needs an https:// URL");
  }
  return config;
}

base::Result<std::unique_ptr<OtlpSink>> OtlpSink::Create(OtlpSinkConfig config,
                                                         const SinkMetrics& metrics) {
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (config.endpoint.tls) {
    net::TlsClientConfig tls_config;
    tls_config.ca_file = config.ca_file;
    auto context = net::MakeClientContext(tls_config);
    if (!context.ok()) return context.status().Wrap(config.Name() + ": TLS");
    tls = std::move(context).value();
  }
  return std::unique_ptr<OtlpSink>(new OtlpSink(std::move(config), std::move(tls), metrics));
}

OtlpSink::OtlpSink(OtlpSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
                   const SinkMetrics& metrics)
    : WindowSink(DeliveryOf(config, std::move(tls), "cpp-metrics-server otlp sink"), metrics), config_(std::move(config)) {}

OtlpSink::~OtlpSink() { Stop(); }

std::string OtlpSink::Describe() const {
  return "posting each window as OTLP/HTTP JSON to " + config_.target +
         (config_.endpoint.tls ? (config_.ca_file.empty() ? " (TLS, system roots)"
                                                          : " (TLS, CA " + config_.ca_file + ")")
                               : "");
}

WriteResult OtlpSink::Write(const window::Window& w, const window::Window* previous,
                            const Resources* resources) {
  std::vector<Point> points = HeapsterPoints(w, previous, resources);
  std::string body;
  body.reserve(points.size() * 200);
  if (AppendOtlpJson(points, body) == 0) return WriteResult::Written();  // nothing to say
  auto response = Post(config_.target, std::move(body), "application/json", config_.headers);
  base::Status status = StatusOf(response);
  if (status.ok()) return WriteResult::Written();
  // The OTLP spec: 429, 502, 503 and 504 are retryable; the other 5xx are retried too, being the
  // server's trouble, not the request's. Any other answer will not change on a retry.
  if (response.ok() && response->status / 100 == 4 && response->status != 429) {
    return WriteResult::Reject(std::move(status));
  }
  return WriteResult::Retry(std::move(status));
}

}  // namespace exporter
