// Heapster's InfluxDB sink: each published window, as line protocol (line_protocol.h), written
// to an InfluxDB 1.x server, without ever making the scrape wait.
//
// Flag syntax, as Heapster's --sink:
//   influxdb:http://host:8086?db=k8s&user=..&pw=..&secure=true|false&withfields=true|false
// Defaults as Heapster's: db k8s, plain HTTP (secure=true, or an https:// URL, uses TLS verified
// against the system roots), measurement per metric. Credentials, when given, go in an
// Authorization: Basic header, never in a URL or a log line.
//
// Delivery: Enqueue() (called on the scrape thread by the publication listener) only appends the
// window's pointer to a queue of at most `max_queued_windows` windows and returns; when the queue
// is full the oldest window is dropped, counted in
// metrics_server_sink_dropped_windows_total{sink="influxdb:<host:port>"} and logged. The sink's own
// thread takes the oldest window, encodes it (one POST /write per window), and on failure retries
// the oldest window still queued with exponential backoff (`initial_backoff` doubling up to
// `max_backoff`); it logs once when the server goes down and once when it recovers. Before the
// first write, and after a "database not found", it sends CREATE DATABASE, as Heapster did.
// Memory is bounded by the queue: at most `max_queued_windows` windows (shared with the API while
// current), plus the one the thread is sending (it may have been dropped from the queue
// meanwhile) and its encoded batch.
//
// Thread-safety: Enqueue() and the accessors may be called from any thread. Start() and the
// destructor from one owner thread. The SinkMetrics' registry must outlive the sink.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "base/mutex.h"
#include "base/result.h"
#include "exporter/line_protocol.h"
#include "net/http_client.h"
#include "window/window.h"

namespace exporter {

struct InfluxSinkConfig {
  net::Endpoint endpoint{false, "localhost", 8086};
  std::string db = "k8s";
  std::string user;      // empty: no Authorization header
  std::string password;  // never logged
  bool with_fields = false;
  std::size_t max_queued_windows = 8;
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds initial_backoff{1'000};
  std::chrono::milliseconds max_backoff{30'000};
  std::size_t max_response_bytes = 64 * 1024;

  // "influxdb:<host:port>", the sink's name in logs and self-metrics (no credentials).
  std::string Name() const;
};

// Parses one --sink value. Errors name the problem and the sink without its password, e.g.
// `--sink=influxdb:http://db:8086?pw=xxxxx&color=red: unknown option "color"`.
base::Result<InfluxSinkConfig> ParseSinkFlag(std::string_view flag);

// The sinks' self-metrics, registered once per registry and shared by every sink (labelled by
// sink name): metrics_server_sink_{dropped_windows,written_windows,failed_writes}_total.
struct SinkMetrics {
  base::MetricFamily* dropped = nullptr;
  base::MetricFamily* written = nullptr;
  base::MetricFamily* failed = nullptr;
  static SinkMetrics Register(base::MetricsRegistry& registry);
};

class InfluxSink {
 public:
  // Builds the TLS context when secure; opens no socket and starts no thread.
  static base::Result<std::unique_ptr<InfluxSink>> Create(InfluxSinkConfig config,
                                                          const SinkMetrics& metrics);
  // Stops the threads; a write in flight is cancelled (so this returns within tens of ms, not
  // request_timeout); queued windows are discarded.
  ~InfluxSink();
  InfluxSink(const InfluxSink&) = delete;
  InfluxSink& operator=(const InfluxSink&) = delete;

  // Starts the sink's threads. Call once.
  void Start();
  // Queues `w` for writing; O(1), never waits for the network. `w` must not be null.
  void Enqueue(std::shared_ptr<const window::Window> w);

  // For tests and self-metrics.
  std::size_t queued() const;
  uint64_t dropped() const;
  uint64_t written() const;  // windows written (2xx)
  bool down() const;         // the last attempt failed

  const InfluxSinkConfig& config() const { return config_; }

 private:
  InfluxSink(InfluxSinkConfig config, std::shared_ptr<boost::asio::ssl::context> tls,
             const SinkMetrics& metrics);
  void Run();
  // One attempt for `w`; Ok on 2xx.
  base::Status Write(const window::Window& w);
  base::Status CreateDatabase();
  base::Status Post(std::string target, std::string body, std::string content_type);

  const InfluxSinkConfig config_;
  const std::string name_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  base::MetricFamily& dropped_total_;
  base::MetricFamily& written_total_;
  base::MetricFamily& failed_total_;
  std::string authorization_;  // "Basic ..." or empty

  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::shared_ptr<net::HttpClient> client_;
  std::thread io_thread_;
  std::thread worker_;
  bool database_ready_ = false;  // worker thread only
  // Worker thread only: the last window written when it held the kubelet's summary, for the
  // _rate forms of the summary's counters (HeapsterPoints); null otherwise.
  std::shared_ptr<const window::Window> previous_;
  std::atomic<bool> worker_done_{false};

  mutable base::Mutex mu_;
  base::CondVar wake_;
  std::deque<std::shared_ptr<const window::Window>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool down_ GUARDED_BY(mu_) = false;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  uint64_t written_ GUARDED_BY(mu_) = 0;
};

}  // namespace exporter
