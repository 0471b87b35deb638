// OTLP/HTTP sink: each published window, as Heapster's points (heapster_schema.h) in an OTLP
// metrics request with the JSON encoding (otlp_json.h, which states the mapping), POSTed to an
// OpenTelemetry Collector or any OTLP/HTTP receiver, without ever making the scrape wait.
//
// Flag syntax, in the style of Heapster's --sink:
//   otlp:http://host:4318[/path][?ca=FILE&headers=key1=value1,key2=value2]
// Defaults: localhost:4318 (the OTLP/HTTP port), path /v1/metrics (the OTLP spec's, appended to
// a base URL as OTEL_EXPORTER_OTLP_ENDPOINT does; a URL with a path is used as it is, like
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT). https:// verifies the server against the system roots,
// or against the PEM bundle `ca=FILE`. `headers=` adds request headers (e.g.
// `headers=Authorization=Bearer%20TOKEN`), as OTEL_EXPORTER_OTLP_HEADERS does; their values are
// never logged.
//
// Delivery (window_sink.h): a bounded queue of windows, one POST per window; transport errors,
// 429 and 5xx are retried with backoff (the OTLP spec's retryable answers, plus the other 5xx);
// any other 4xx means the server will never take that request: the window is dropped with a log
// line and counted in metrics_server_sink_rejected_windows_total.
//
// Thread-safety: Enqueue() and the accessors may be called from any thread. Start() and the
// destructor from one owner thread. The SinkMetrics' registry must outlive the sink.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "exporter/window_sink.h"
#include "net/http_client.h"
#include "window/window.h"

namespace exporter {

struct OtlpSinkConfig {
  net::Endpoint endpoint{false, "localhost", 4318};
  std::string target = "/v1/metrics";
  std::string ca_file;                                       // https: instead of system roots
  std::vector<std::pair<std::string, std::string>> headers;  // values never logged
  DeliveryOptions delivery;

  // "otlp:<host:port>", the sink's name in logs and self-metrics.
  std::string Name() const;
};

// Parses one otlp: --sink value. Errors name the problem and the sink with the headers' values
// masked, e.g. `--sink=otlp:http://c:4318?headers=xxxxx&color=red: unknown option "color"`.
base::Result<OtlpSinkConfig> ParseOtlpSinkFlag(std::string_view flag);

class OtlpSink final : public WindowSink {
 public:
  // Builds the TLS context when https (fails on an unreadable ca= file); opens no socket and
  // starts no thread.
  static base::Result<std::unique_ptr<OtlpSink>> Create(OtlpSinkConfig config,
                                                        const SinkMetrics& metrics);
  ~OtlpSink() override;

  const OtlpSinkConfig& config() const { return config_; }

 private:
  OtlpSink(OtlpSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
           const SinkMetrics& metrics);
  WriteResult Write(const window::Window& w, const window::Window* previous,
                    const Resources* resources) override;
  std::string Describe() const override;

  const OtlpSinkConfig config_;
};

}  // namespace exporter
