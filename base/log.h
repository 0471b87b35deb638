// Process-wide logging to stderr on spdlog, configured once in main.
//
// Verbosity follows klog's -v: 0-1 info, 2-4 debug (V(2) details such as per-node scrape
// results), 5+ trace. Call SetupLogging before starting threads; logging itself is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/result.h"

namespace base {

enum class LogFormat { kText, kJson };

// The logging flags of Kubernetes components (k8s.io/component-base/logs), as metrics-server
// registers them: -v and --logging-format act; --vmodule, --log-flush-frequency and the alpha
// split-stream/buffer flags are accepted without effect (FlagSet::NoEffect says why).
struct LogOptions {
  int64_t verbosity = 0;        // -v
  std::string format = "text";  // --logging-format

  void AddFlags(FlagSet& flags);  // `this` must outlive `flags`
  std::vector<std::string> Validate() const;
};

// Installs the default logger. Fails on an unknown format name ("text" or "json").
Status SetupLogging(int verbosity, const std::string& format);

}  // namespace base
