// IoThreads: an io_context run by N threads for the duration of a test, kept running without
// work until Stop().
//
// Thread-safety: `io` may be used from any thread. Construct, Stop() and destroy on the test's
// thread. Declare it after what its handlers use (so it is destroyed first), or call Stop()
// before destroying those: a handler may still be running right after a callback was seen.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>
#include <vector>

namespace testing_support {

class IoThreads {
 public:
  explicit IoThreads(int threads);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  // Drops the handlers not yet run and joins the threads. Idempotent.
  void Stop();

  boost::asio::io_context io;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace testing_support
