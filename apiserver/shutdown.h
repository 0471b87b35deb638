// The graceful shutdown of k8s.io/apiserver, started by SIGTERM or SIGINT:
//   1. `shutting_down` is set at once, so /readyz fails (endpoints and load balancers stop sending
//      traffic) while requests are served as usual for `delay` (--shutdown-delay-duration);
//   2. then the server drains: it stops accepting and lets in-flight requests finish;
//   3. when the last connection is gone, or `timeout` (--shutdown-timeout) after the drain began
//      with connections still open (logged), `stop` is called, once, on an io thread: the owner
//      stops everything else and the process exits 0.
//
// Thread-safety: Start() may be called from any thread, once; the sequence runs on `io`'s
// threads. `io`, `server` and `shutting_down` must outlive this object; destroy it only after
// `io` has stopped running (its handlers reach it).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>

#include "apiserver/server.h"

namespace apiserver {

class GracefulShutdown {
 public:
  struct Settings {
    std::chrono::nanoseconds delay{0};                            // serving on after the signal
    std::chrono::nanoseconds timeout = std::chrono::seconds(30);  // bound on the drain
  };

  GracefulShutdown(boost::asio::io_context& io, Server& server, std::atomic<bool>& shutting_down,
                   Settings settings, std::function<void()> stop);
  GracefulShutdown(const GracefulShutdown&) = delete;
  GracefulShutdown& operator=(const GracefulShutdown&) = delete;

  // Handles SIGTERM and SIGINT from now on (their default action, exiting at once, until then).
  void Start();

 private:
  void OnSignal(int signal);
  void Drain();
  void Stop();

  boost::asio::io_context& io_;
  Server& server_;
  std::atomic<bool>& shutting_down_;
  const Settings settings_;
  std::function<void()> stop_;
  std::atomic<bool> stopped_{false};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer delay_timer_;
  boost::asio::steady_timer timeout_timer_;
};

}  // namespace apiserver
