#include "exporter/influx_sink.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "exporter/heapster_schema.h"
#include "exporter/line_protocol.h"
#include "exporter/sink_flag.h"

namespace exporter {
namespace {

constexpr std::string_view kPrefix = "influxdb:";

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string InfluxSinkConfig::Name() const { return std::string(kPrefix) + endpoint.HostPort(); }

base::Result<InfluxSinkConfig> ParseSinkFlag(std::string_view flag) {
  auto fail = [&](std::string why) {
    return base::MakeError("--sink=" + RedactedSinkFlag(flag, {"pw"}) + ": " + std::move(why));
  };
  if (flag.substr(0, kPrefix.size()) != kPrefix) {
    return fail(
        "unknown sink (supported: influxdb:http://host:8086?db=..&user=..&pw=..&"
        "secure=..&withfields=.., otlp:http://host:4318?ca=..&headers=..)");
  }
  auto url =
      ParseSinkUrl(flag.substr(kPrefix.size()), "credentials go in user= and pw=, not in the URL");
  if (!url.ok()) return fail(url.error());
  if (!url->path.empty()) return fail("the URL must not have a path");
  InfluxSinkConfig config;
  if (!url->host.empty()) config.endpoint.host = url->host;
  if (url->port) config.endpoint.port = *url->port;
  bool secure = url->https;
  for (const auto& [key, value] : url->options) {
    if (key == "db") {
      if (value.empty()) return fail("empty db");
      config.db = value;
    } else if (key == "user") {
      config.user = value;
    } else if (key == "pw") {
      config.password = value;
    } else if (key == "secure") {
      if (!ParseGoBool(value, &secure)) return fail("secure: not a boolean: \"" + value + "\"");
      secure = secure || url->https;
    } else if (key == "withfields") {
      if (!ParseGoBool(value, &config.with_fields)) {
        return fail("withfields: not a boolean: \"" + value + "\"");
      }
    } else {
      return fail("unknown option \"" + key + "\" (known: db, user, pw, secure, withfields)");
    }
  }
  config.endpoint.tls = secure;
  return config;
}

base::Result<std::unique_ptr<InfluxSink>> InfluxSink::Create(InfluxSinkConfig config,
                                                             const SinkMetrics& metrics) {
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (config.endpoint.tls) {
    auto context = net::MakeClientContext({});
    if (!context.ok()) return context.status().Wrap(config.Name() + ": TLS");
    tls = std::move(context).value();
  }
  return std::unique_ptr<InfluxSink>(new InfluxSink(std::move(config), std::move(tls), metrics));
}

InfluxSink::InfluxSink(InfluxSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
                       const SinkMetrics& metrics)
    : WindowSink(DeliveryOf(config, std::move(tls), "cpp-metrics-server influxdb sink"), metrics), config_(std::move(config)) {
  if (!config_.user.empty() || !config_.password.empty()) {
    authorization_ = "Basic " + Base64(config_.user + ":" + config_.password);
  }
}

InfluxSink::~InfluxSink() { Stop(); }

std::string InfluxSink::Describe() const {
  return "writing each window to database " + config_.db +
         (config_.with_fields ? " (withfields)" : "");
}

base::Status InfluxSink::Send(std::string target, std::string body, std::string content_type) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!authorization_.empty()) headers.emplace_back("Authorization", authorization_);
  return StatusOf(
      Post(std::move(target), std::move(body), std::move(content_type), std::move(headers)));
}

base::Status InfluxSink::CreateDatabase() {
  // CREATE DATABASE is idempotent in InfluxDB 1.x.
  return Send("/query", "q=" + QueryEscape("CREATE DATABASE \"" + config_.db + "\""),
              "application/x-www-form-urlencoded");
}

// Heapster's InfluxDB sink retried every failure; so does this one.
WriteResult InfluxSink::Write(const window::Window& w, const window::Window* previous,
                              const Resources* resources) {
  if (!database_ready_) {
    base::Status created = CreateDatabase();
    if (!created.ok()) return WriteResult::Retry(created.Wrap("create database"));
    database_ready_ = true;
  }
  std::vector<Point> points = HeapsterPoints(w, previous, resources);
  std::string body;
  body.reserve(points.size() * 96);
  AppendLineProtocol(points, {.with_fields = config_.with_fields}, body);
  base::Status status = Send("/write?db=" + QueryEscape(config_.db) + "&precision=ns",
                             std::move(body), "text/plain; charset=utf-8");
  if (status.ok()) return WriteResult::Written();
  if (status.message().find("database not found") != std::string::npos) {
    database_ready_ = false;
  }
  return WriteResult::Retry(std::move(status));
}

}  // namespace exporter
