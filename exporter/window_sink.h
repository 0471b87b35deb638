// What every sink shares: a bounded queue of published windows and one thread that sends them
// over HTTP with retries, so that a slow or absent server never makes the scrape wait.
//
// Delivery: Enqueue() (called on the scrape thread by the publication listener) only appends the
// window's pointer to a queue of at most `max_queued_windows` windows and returns; when the queue
// is full the oldest window is dropped, counted in
// metrics_server_sink_dropped_windows_total{sink="<name>"} and logged. The sink's own thread takes
// the oldest window and calls the subclass's Write(). On a retryable failure it retries the oldest
// window still queued with exponential backoff (`initial_backoff` doubling up to `max_backoff`),
// logging once when the server goes down and once when it recovers. A window the server rejects
// for good (Write() says so: OTLP's 4xx other than 429) is dropped with a log line and counted in
// metrics_server_sink_rejected_windows_total. Memory is bounded by the queue: at most
// `max_queued_windows` windows (shared with the API while current), plus the one the thread is
// sending (it may have been dropped from the queue meanwhile) and its encoded body.
//
// Subclasses: implement Write() with Post(), and call Stop() first thing in their destructor
// (the thread calls Write() on the subclass, so it must end before the subclass is destroyed).
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
#include <thread>
#include <utility>
#include <vector>

#include "base/metrics.h"
#include "base/mutex.h"
#include "base/result.h"
#include "exporter/heapster_schema.h"
#include "net/http_client.h"
#include "window/window.h"

namespace exporter {

// The sinks' self-metrics, registered once per registry and shared by every sink (labelled by
// sink name): metrics_server_sink_{dropped_windows,written_windows,failed_writes,
// rejected_windows}_total.
struct SinkMetrics {
  base::MetricFamily* dropped = nullptr;
  base::MetricFamily* written = nullptr;
  base::MetricFamily* failed = nullptr;
  base::MetricFamily* rejected = nullptr;
  static SinkMetrics Register(base::MetricsRegistry& registry);
};

// How a sink delivers, whatever it sends: the part of every sink's config (InfluxSinkConfig,
// OtlpSinkConfig) that is the same for all.
struct DeliveryOptions {
  std::size_t max_queued_windows = 8;
  std::chrono::milliseconds request_timeout{10'000};  // one request, connect to last byte
  std::chrono::milliseconds initial_backoff{1'000};   // after the first failure; doubles
  std::chrono::milliseconds max_backoff{30'000};
  std::size_t max_response_bytes = 64 * 1024;
};

// How a sink sends, whatever it sends.
struct DeliverySettings {
  std::string name;  // e.g. "influxdb:host:port", in logs and self-metrics; no credentials
  net::Endpoint endpoint;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null unless endpoint.tls
  std::string user_agent;
  DeliveryOptions options;
};

// The settings of a sink whose config has an `endpoint`, a `delivery` (DeliveryOptions) and a
// Name(), with the given TLS context and user agent.
template <typename Config>
DeliverySettings DeliveryOf(const Config& config, std::shared_ptr<boost::asio::ssl::context> tls,
                            std::string user_agent) {
  return DeliverySettings{config.Name(), config.endpoint, std::move(tls), std::move(user_agent),
                          config.delivery};
}

// The outcome of one attempt to write one window.
struct WriteResult {
  base::Status status;  // Ok: written
  bool retry = true;    // on failure: false drops the window (the server refused it for good)
  static WriteResult Written() { return {base::Status::Ok(), false}; }
  static WriteResult Retry(base::Status s) { return {std::move(s), true}; }
  static WriteResult Reject(base::Status s) { return {std::move(s), false}; }
};

class WindowSink {
 public:
  WindowSink(const WindowSink&) = delete;
  WindowSink& operator=(const WindowSink&) = delete;
  // Stop()s if the subclass did not.
  virtual ~WindowSink();

  // Pods' requests and limits for each window written (Heapster's cpu/request, ... names);
  // asked once per window, on the sink's thread. Call before Start(); unset = none.
  void SetResources(ResourcesSource resources) { resources_ = std::move(resources); }
  // Starts the sink's threads. Call once.
  void Start();
  // Queues `w` for writing; O(1), never waits for the network. `w` must not be null.
  void Enqueue(std::shared_ptr<const window::Window> w);

  // For tests and self-metrics.
  std::size_t queued() const;
  uint64_t dropped() const;   // dropped from a full queue
  uint64_t written() const;   // windows written (2xx)
  uint64_t rejected() const;  // refused for good by the server
  bool down() const;          // the last attempt failed and will be retried

  const std::string& name() const { return settings_.name; }

 protected:
  WindowSink(DeliverySettings settings, const SinkMetrics& metrics);

  // One attempt to write `w`; called on the sink's thread only. `previous` is the last window
  // this sink wrote when that window held the kubelet's summary (for the _rate forms of its
  // counters, HeapsterPoints), else null. `resources`: from SetResources(), else null.
  virtual WriteResult Write(const window::Window& w, const window::Window* previous,
                            const Resources* resources) = 0;
  // One line for the start-up log, after the name, e.g. "writing each window to database k8s".
  virtual std::string Describe() const = 0;

  // Sends one request and waits for the whole answer (bounded by request_timeout). For Write().
  base::Result<net::Response> Post(std::string target, std::string body, std::string content_type,
                                   std::vector<std::pair<std::string, std::string>> headers);
  // Ok for a 2xx answer; else the transport error, or "HTTP <code>: <first 300 body bytes>".
  static base::Status StatusOf(const base::Result<net::Response>& response);

  // Stops the threads; a write in flight is cancelled (so this returns within tens of ms, not
  // request_timeout); queued windows are discarded. Idempotent.
  void Stop();

  const DeliverySettings& delivery() const { return settings_; }

 private:
  void Run();

  const DeliverySettings settings_;
  base::MetricFamily& dropped_total_;
  base::MetricFamily& written_total_;
  base::MetricFamily& failed_total_;
  base::MetricFamily& rejected_total_;

  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::shared_ptr<net::HttpClient> client_;
  std::thread io_thread_;
  std::thread worker_;
  std::atomic<bool> worker_done_{false};
  // Sink thread only: the last window written, kept only when it held the kubelet's summary (one
  // window more at most; see Write()).
  std::shared_ptr<const window::Window> previous_;
  ResourcesSource resources_;  // set before Start(); read by the sink's thread

  mutable base::Mutex mu_;
  base::CondVar wake_;
  std::deque<std::shared_ptr<const window::Window>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool down_ GUARDED_BY(mu_) = false;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  uint64_t written_ GUARDED_BY(mu_) = 0;
  uint64_t rejected_ GUARDED_BY(mu_) = 0;
};

}  // namespace exporter
