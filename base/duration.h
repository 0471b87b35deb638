// Go-style durations ("15s", "1m30.5s", "500ms", "1h0m0s"), as Kubernetes flags and
// metav1.Duration use them. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace base {

// Parses Go's time.ParseDuration syntax: an optional sign, then one or more decimal numbers with
// a unit (ns, us, µs, ms, s, m, h). "0" alone is accepted. Fails on empty input, a missing unit,
// an unknown unit or overflow of int64 nanoseconds.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Formats like Go's time.Duration.String(): "0s", "1.5ms", "15.001s", "1m0s", "1h2m3s".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace base
