#include "exporter/window_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace exporter {

SinkMetrics SinkMetrics::Register(base::MetricsRegistry& registry) {
  return SinkMetrics{
      &registry.Counter("metrics_server_sink_dropped_windows_total",
                        "Windows a sink dropped because its queue was full.", {"sink"}),
      &registry.Counter("metrics_server_sink_written_windows_total", "Windows a sink wrote.",
                        {"sink"}),
      &registry.Counter("metrics_server_sink_failed_writes_total",
                        "Failed attempts of a sink to write a window.", {"sink"}),
      &registry.Counter("metrics_server_sink_rejected_windows_total",
                        "Windows a sink dropped because the server refused them for good (an "
                        "HTTP 4xx other than 429).",
                        {"sink"}),
  };
}

WindowSink::WindowSink(DeliverySettings settings, const SinkMetrics& metrics)
    : settings_(std::move(settings)),
      dropped_total_(*metrics.dropped),
      written_total_(*metrics.written),
      failed_total_(*metrics.failed),
      rejected_total_(*metrics.rejected) {
  dropped_total_.Add({settings_.name}, 0);
  written_total_.Add({settings_.name}, 0);
  failed_total_.Add({settings_.name}, 0);
  rejected_total_.Add({settings_.name}, 0);
}

WindowSink::~WindowSink() { Stop(); }

void WindowSink::Stop() {
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

void WindowSink::Start() {
  net::ClientOptions options;
  options.user_agent = settings_.user_agent;
  client_ = net::HttpClient::Create(io_, settings_.tls, settings_.endpoint, options);
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  worker_ = std::thread([this] {
    Run();
    worker_done_ = true;
  });
  spdlog::info("{}: {}", settings_.name, Describe());
}

void WindowSink::Enqueue(std::shared_ptr<const window::Window> w) {
  bool dropped = false;
  {
    base::MutexLock lock(mu_);
    queue_.push_back(std::move(w));
    if (queue_.size() > settings_.options.max_queued_windows) {
      queue_.pop_front();
      ++dropped_;
      dropped = true;
    }
  }
  if (dropped) {
    dropped_total_.Add({settings_.name}, 1);
    spdlog::warn("{}: queue full ({} windows), dropped the oldest window", settings_.name,
                 settings_.options.max_queued_windows);
  }
  wake_.NotifyOne();
}

std::size_t WindowSink::queued() const {
  base::MutexLock lock(mu_);
  return queue_.size();
}
uint64_t WindowSink::dropped() const {
  base::MutexLock lock(mu_);
  return dropped_;
}
uint64_t WindowSink::written() const {
  base::MutexLock lock(mu_);
  return written_;
}
uint64_t WindowSink::rejected() const {
  base::MutexLock lock(mu_);
  return rejected_;
}
bool WindowSink::down() const {
  base::MutexLock lock(mu_);
  return down_;
}

void WindowSink::Run() {
  const std::string& name = settings_.name;
  std::chrono::milliseconds backoff = settings_.options.initial_backoff;
  uint64_t failures = 0;
  for (;;) {
    std::shared_ptr<const window::Window> w;
    {
      base::MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) wake_.Wait(mu_);
      if (stopping_) return;
      w = queue_.front();  // stays queued (and droppable) until written
    }
    const std::shared_ptr<const Resources> resources = resources_ ? resources_() : nullptr;
    WriteResult result = Write(*w, previous_.get(), resources.get());
    const bool done = result.status.ok() || !result.retry;
    bool recovered = false;
    bool went_down = false;
    {
      base::MutexLock lock(mu_);
      if (done) {
        if (!queue_.empty() && queue_.front() == w) queue_.pop_front();
        if (result.status.ok()) {
          ++written_;
        } else {
          ++rejected_;
        }
        // The server answered: it is up, whether it took the window or not.
        recovered = down_;
        down_ = false;
      } else {
        went_down = !down_;
        down_ = true;
      }
    }
    if (done) {
      if (result.status.ok()) {
        previous_ = w->has_summary() ? w : nullptr;
        written_total_.Add({name}, 1);
      } else {
        failed_total_.Add({name}, 1);
        rejected_total_.Add({name}, 1);
        spdlog::warn("{}: the server refused window {} for good, dropped it: {}", name,
                     w->generation(), result.status.message());
      }
      if (recovered) {
        spdlog::info("{}: recovered after {} failed attempts; writing again", name, failures);
      }
      failures = 0;
      backoff = settings_.options.initial_backoff;
      continue;
    }
    {
      base::MutexLock lock(mu_);
      if (stopping_) return;  // the failure is the cancellation
    }
    failed_total_.Add({name}, 1);
    ++failures;
    if (went_down) {
      spdlog::warn("{}: down: {}; retrying with backoff up to {}ms, keeping at most {} windows",
                   name, result.status.message(), settings_.options.max_backoff.count(),
                   settings_.options.max_queued_windows);
    } else {
      spdlog::debug("{}: still down: {}", name, result.status.message());
    }
    base::MutexLock lock(mu_);
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (!stopping_ && wake_.WaitUntil(mu_, until)) {
    }
    if (stopping_) return;
    backoff = std::min(backoff * 2, settings_.options.max_backoff);
  }
}

base::Result<net::Response> WindowSink::Post(
    std::string target, std::string body, std::string content_type,
    std::vector<std::pair<std::string, std::string>> headers) {
  net::Request request;
  request.method = boost::beast::http::verb::post;
  request.target = std::move(target);
  request.body = std::move(body);
  request.content_type = std::move(content_type);
  request.headers = std::move(headers);
  return client_->SendSync(std::move(request), settings_.options.request_timeout,
                           settings_.options.max_response_bytes);
}

base::Status WindowSink::StatusOf(const base::Result<net::Response>& response) {
  if (!response.ok()) return response.status();
  if (response->status / 100 != 2) {
    std::string body_text = response->body.substr(0, 300);
    return base::Status::Error("HTTP " + std::to_string(response->status) +
                               (body_text.empty() ? "" : ": " + body_text));
  }
  return base::Status::Ok();
}

}  // namespace exporter
