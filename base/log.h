// Process-wide logging to stderr on spdlog, configured once in main.
//
// Verbosity follows klog's -v: 0-1 info, 2-4 debug (V(2) details such as per-node scrape
// results), 5+ trace. Call SetupLogging before starting threads; logging itself is thread-safe.
#pragma once

#include <string>

#include "base/result.h"

namespace base {

enum class LogFormat { kText, kJson };

// Installs the default logger. Fails on an unknown format name ("text" or "json").
Status SetupLogging(int verbosity, const std::string& format);

}  // namespace base
