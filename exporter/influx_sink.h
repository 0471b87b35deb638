// Heapster's InfluxDB sink: each published window, as line protocol (line_protocol.h), written
// to an InfluxDB 1.x server, without ever making the scrape wait.
//
// Flag syntax, as Heapster's --sink:
//   influxdb:http://host:8086?db=k8s&user=..&pw=..&secure=true|false&withfields=true|false
// Defaults as Heapster's: db k8s, plain HTTP (secure=true, or an https:// URL, uses TLS verified
// against the system roots), measurement per metric. Credentials, when given, go in an
// Authorization: Basic header, never in a URL or a log line.
//
// Delivery (window_sink.h): a bounded queue of windows, one POST /write per window, retried with
// backoff on any failure, a log line when the server goes down and when it recovers. Before the
// first write, and after a "database not found", it sends CREATE DATABASE, as Heapster did.
// Memory is bounded by the queue: at most `delivery.max_queued_windows` windows (shared with the
// API while current), plus the one the thread is sending and its encoded batch.
//
// Thread-safety: Enqueue() and the accessors may be called from any thread. Start() and the
// destructor from one owner thread. The SinkMetrics' registry must outlive the sink.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "exporter/window_sink.h"
#include "net/http_client.h"
#include "window/window.h"

namespace exporter {

struct InfluxSinkConfig {
  net::Endpoint endpoint{false, "localhost", 8086};
  std::string db = "k8s";
  std::string user;      // empty: no Authorization header
  std::string password;  // never logged
  bool with_fields = false;
  DeliveryOptions delivery;

  // "influxdb:<host:port>", the sink's name in logs and self-metrics (no credentials).
  std::string Name() const;
};

// Parses one --sink value. Errors name the problem and the sink without its password, e.g.
// `--sink=influxdb:http://db:8086?pw=xxxxx&color=red: unknown option "color"`.
base::Result<InfluxSinkConfig> ParseSinkFlag(std::string_view flag);

class InfluxSink final : public WindowSink {
 public:
  // Builds the TLS context when secure; opens no socket and starts no thread.
  static base::Result<std::unique_ptr<InfluxSink>> Create(InfluxSinkConfig config,
                                                          const SinkMetrics& metrics);
  ~InfluxSink() override;

  const InfluxSinkConfig& config() const { return config_; }

 private:
  InfluxSink(InfluxSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
             const SinkMetrics& metrics);
  WriteResult Write(const window::Window& w, const window::Window* previous,
                    const Resources* resources) override;
  std::string Describe() const override;
  base::Status CreateDatabase();
  base::Status Send(std::string target, std::string body, std::string content_type);

  const InfluxSinkConfig config_;
  std::string authorization_;    // "Basic ..." or empty
  bool database_ready_ = false;  // sink thread only
};

}  // namespace exporter
