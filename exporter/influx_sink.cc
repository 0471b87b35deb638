#include "exporter/influx_sink.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "exporter/heapster_schema.h"

namespace exporter {
namespace {

constexpr std::string_view kPrefix = "influxdb:";

// The flag with the value of pw= and any user:password@ in the URL replaced, for error messages.
std::string Redacted(std::string_view flag) {
  std::string out(flag);
  if (size_t scheme = out.find("://"); scheme != std::string::npos) {
    size_t authority = scheme + 3;
    size_t at = out.find('@', authority);
    if (at != std::string::npos && at < out.find_first_of("/?", authority)) {
      out.replace(authority, at - authority, "xxxxx");
    }
  }
  for (size_t pos = 0; (pos = out.find("pw=", pos)) != std::string::npos;) {
    if (pos != 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
      pos += 3;
      continue;
    }
    size_t end = out.find('&', pos);
    out.replace(pos + 3, (end == std::string::npos ? out.size() : end) - pos - 3, "xxxxx");
    pos += 3;
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query-string decoding: %XX and '+' for space.
base::Result<std::string> Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return base::MakeError("bad %-escape");
      int hi = HexDigit(s[i + 1]), lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return base::MakeError("bad %-escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Go's strconv.ParseBool, which Heapster used for secure= and withfields=.
bool ParseBool(std::string_view v, bool* out) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (v == t) return *out = true, true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (v == f) return *out = false, true;
  return false;
}

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
    return base::MakeError("--sink=" + Redacted(flag) + ": " + std::move(why));
  };
  if (flag.substr(0, kPrefix.size()) != kPrefix) {
    return fail(
        "unknown sink (supported: influxdb:http://host:8086?db=..&user=..&pw=..&"
        "secure=..&withfields=..)");
  }
  InfluxSinkConfig config;
  std::string_view rest = flag.substr(kPrefix.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  bool url_secure = false;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    url_secure = true;
  } else if (rest.find("://") != std::string_view::npos) {
    return fail("the URL's scheme must be http or https");
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return fail("the URL must not have a path");
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) {
    return fail("credentials go in user= and pw=, not in the URL");
  }
  if (!rest.empty()) {
    std::string_view host = rest;
    std::string_view port;
    if (host.front() == '[') {
      size_t close = host.find(']');
      if (close == std::string_view::npos) return fail("unclosed '[' in the host");
      if (close + 1 < host.size()) {
        if (host[close + 1] != ':') return fail("bad host:port");
        port = host.substr(close + 2);
      }
      host = host.substr(1, close - 1);
    } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty()) return fail("empty host");
    config.endpoint.host = std::string(host);
    if (!port.empty()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
        return fail("bad port \"" + std::string(port) + "\"");
      }
      config.endpoint.port = static_cast<uint16_t>(value);
    }
  }
  bool secure = url_secure;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    auto value = Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value.ok()) return fail("option \"" + std::string(key) + "\": " + value.error());
    if (key == "db") {
      if (value->empty()) return fail("empty db");
      config.db = *value;
    } else if (key == "user") {
      config.user = *value;
    } else if (key == "pw") {
      config.password = *value;
    } else if (key == "secure") {
      if (!ParseBool(*value, &secure)) return fail("secure: not a boolean: \"" + *value + "\"");
      secure = secure || url_secure;
    } else if (key == "withfields") {
      if (!ParseBool(*value, &config.with_fields)) {
        return fail("withfields: not a boolean: \"" + *value + "\"");
      }
    } else {
      return fail("unknown option \"" + std::string(key) +
                  "\" (known: db, user, pw, secure, withfields)");
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

SinkMetrics SinkMetrics::Register(base::MetricsRegistry& registry) {
  return SinkMetrics{
      &registry.Counter("metrics_server_sink_dropped_windows_total",
                        "Windows a sink dropped because its queue was full.", {"sink"}),
      &registry.Counter("metrics_server_sink_written_windows_total", "Windows a sink wrote.",
                        {"sink"}),
      &registry.Counter("metrics_server_sink_failed_writes_total",
                        "Failed attempts of a sink to write a window.", {"sink"}),
  };
}

InfluxSink::InfluxSink(InfluxSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
                       const SinkMetrics& metrics)
    : config_(std::move(config)),
      name_(config_.Name()),
      tls_(std::move(tls)),
      dropped_total_(*metrics.dropped),
      written_total_(*metrics.written),
      failed_total_(*metrics.failed) {
  if (!config_.user.empty() || !config_.password.empty()) {
    authorization_ = "Basic " + Base64(config_.user + ":" + config_.password);
  }
  dropped_total_.Add({name_}, 0);
  written_total_.Add({name_}, 0);
  failed_total_.Add({name_}, 0);
}

InfluxSink::~InfluxSink() {
  {
    base::MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  // Close() cancels the write in flight; repeated, because a write may start just after a Close.
  while (worker_.joinable() && !worker_done_.load()) {
    client_->Close();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (worker_.joinable()) worker_.join();
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

void InfluxSink::Start() {
  net::ClientOptions options;
  options.user_agent = "cpp-metrics-server influxdb sink";
  client_ = net::HttpClient::Create(io_, tls_, config_.endpoint, options);
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  worker_ = std::thread([this] {
    Run();
    worker_done_ = true;
  });
  spdlog::info("{}: writing each window to database {}{}", name_, config_.db,
               config_.with_fields ? " (withfields)" : "");
}

void InfluxSink::Enqueue(std::shared_ptr<const window::Window> w) {
  bool dropped = false;
  {
    base::MutexLock lock(mu_);
    queue_.push_back(std::move(w));
    if (queue_.size() > config_.max_queued_windows) {
      queue_.pop_front();
      ++dropped_;
      dropped = true;
    }
  }
  if (dropped) {
    dropped_total_.Add({name_}, 1);
    spdlog::warn("{}: queue full ({} windows), dropped the oldest window", name_,
                 config_.max_queued_windows);
  }
  wake_.NotifyOne();
}

std::size_t InfluxSink::queued() const {
  base::MutexLock lock(mu_);
  return queue_.size();
}
uint64_t InfluxSink::dropped() const {
  base::MutexLock lock(mu_);
  return dropped_;
}
uint64_t InfluxSink::written() const {
  base::MutexLock lock(mu_);
  return written_;
}
bool InfluxSink::down() const {
  base::MutexLock lock(mu_);
  return down_;
}

void InfluxSink::Run() {
  std::chrono::milliseconds backoff = config_.initial_backoff;
  uint64_t failures = 0;
  for (;;) {
    std::shared_ptr<const window::Window> w;
    {
      base::MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) wake_.Wait(mu_);
      if (stopping_) return;
      w = queue_.front();  // stays queued (and droppable) until written
    }
    base::Status status = Write(*w);
    bool recovered = false;
    bool went_down = false;
    {
      base::MutexLock lock(mu_);
      if (status.ok()) {
        if (!queue_.empty() && queue_.front() == w) queue_.pop_front();
        previous_ = w->has_summary() ? w : nullptr;
        ++written_;
        recovered = down_;
        down_ = false;
      } else {
        went_down = !down_;
        down_ = true;
      }
    }
    if (status.ok()) {
      written_total_.Add({name_}, 1);
      if (recovered) {
        spdlog::info("{}: recovered after {} failed attempts; writing again", name_, failures);
      }
      failures = 0;
      backoff = config_.initial_backoff;
      continue;
    }
    {
      base::MutexLock lock(mu_);
      if (stopping_) return;  // the failure is the cancellation
    }
    failed_total_.Add({name_}, 1);
    ++failures;
    if (went_down) {
      spdlog::warn("{}: down: {}; retrying with backoff up to {}ms, keeping at most {} windows",
                   name_, status.message(), config_.max_backoff.count(),
                   config_.max_queued_windows);
    } else {
      spdlog::debug("{}: still down: {}", name_, status.message());
    }
    base::MutexLock lock(mu_);
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (!stopping_ && wake_.WaitUntil(mu_, until)) {
    }
    if (stopping_) return;
    backoff = std::min(backoff * 2, config_.max_backoff);
  }
}

base::Status InfluxSink::Post(std::string target, std::string body, std::string content_type) {
  net::Request request;
  request.method = boost::beast::http::verb::post;
  request.target = std::move(target);
  request.body = std::move(body);
  request.content_type = std::move(content_type);
  if (!authorization_.empty()) request.headers.emplace_back("Authorization", authorization_);
  auto response =
      client_->SendSync(std::move(request), config_.request_timeout, config_.max_response_bytes);
  if (!response.ok()) return response.status();
  if (response->status / 100 != 2) {
    std::string body_text = response->body.substr(0, 300);
    return base::Status::Error("HTTP " + std::to_string(response->status) +
                               (body_text.empty() ? "" : ": " + body_text));
  }
  return base::Status::Ok();
}

base::Status InfluxSink::CreateDatabase() {
  // CREATE DATABASE is idempotent in InfluxDB 1.x.
  return Post("/query", "q=" + QueryEscape("CREATE DATABASE \"" + config_.db + "\""),
              "application/x-www-form-urlencoded");
}

base::Status InfluxSink::Write(const window::Window& w) {
  if (!database_ready_) {
    base::Status created = CreateDatabase();
    if (!created.ok()) return created.Wrap("create database");
    database_ready_ = true;
  }
  std::vector<Point> points = HeapsterPoints(w, previous_.get());
  std::string body;
  body.reserve(points.size() * 96);
  AppendLineProtocol(points, {.with_fields = config_.with_fields}, body);
  base::Status status = Post("/write?db=" + QueryEscape(config_.db) + "&precision=ns",
                             std::move(body), "text/plain; charset=utf-8");
  if (!status.ok() && status.message().find("database not found") != std::string::npos) {
    database_ready_ = false;
  }
  return status;
}

}  // namespace exporter
