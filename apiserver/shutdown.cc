#include "apiserver/shutdown.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <csignal>
#include <utility>

#include "base/duration.h"

namespace apiserver {

GracefulShutdown::GracefulShutdown(boost::asio::io_context& io, Server& server,
                                   std::atomic<bool>& shutting_down, Settings settings,
                                   std::function<void()> stop)
    : io_(io),
      server_(server),
      shutting_down_(shutting_down),
      settings_(settings),
      stop_(std::move(stop)),
      signals_(io),
      delay_timer_(io),
      timeout_timer_(io) {}

void GracefulShutdown::Start() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) OnSignal(signal);
  });
}

void GracefulShutdown::OnSignal(int signal) {
  shutting_down_ = true;
  if (settings_.delay <= std::chrono::nanoseconds(0)) {
    spdlog::info("received signal {}: draining in-flight requests", signal);
    Drain();
    return;
  }
  spdlog::info("received signal {}: not ready; serving for {} more before draining", signal,
               base::FormatDuration(settings_.delay));
  delay_timer_.expires_after(settings_.delay);
  delay_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::info("shutdown delay over: draining in-flight requests");
    Drain();
  });
}

void GracefulShutdown::Drain() {
  timeout_timer_.expires_after(settings_.timeout);
  timeout_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::warn("shutdown timeout: {} connection(s) still open", server_.connections());
    Stop();
  });
  server_.Shutdown([this] {
    boost::asio::post(io_, [this] {
      timeout_timer_.cancel();
      spdlog::info("all requests finished; exiting");
      Stop();
    });
  });
}

void GracefulShutdown::Stop() {
  if (stopped_.exchange(true)) return;
  stop_();
}

}  // namespace apiserver
