#include "test/testing/io_threads.h"

namespace testing_support {

IoThreads::IoThreads(int threads) : work_(io.get_executor()) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io.run(); });
}

IoThreads::~IoThreads() { Stop(); }

void IoThreads::Stop() {
  work_.reset();
  io.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace testing_support
