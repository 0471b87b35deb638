// The export flags: --sink, repeatable, in Heapster's syntax (influx_sink.h), and
// --heapster-metrics (the Prometheus exposition, prometheus_text.h). Parsed at the edge and
// validated with the program's other options; not thread-safe, used once at start-up.
#pragma once

#include <string>
#include <vector>

#include "base/flags.h"
#include "exporter/influx_sink.h"

namespace exporter {

struct SinkOptions {
  std::vector<std::string> sinks;  // one --sink value each, in order
  bool heapster_metrics = false;   // --heapster-metrics: serve /metrics/heapster

  void AddFlags(base::FlagSet& flags);  // `this` must outlive `flags`
  // One message per bad --sink (unknown sink or option, bad value), password masked.
  std::vector<std::string> Validate() const;
  // The sinks' settings; the options must be valid.
  std::vector<InfluxSinkConfig> Configs() const;
};

}  // namespace exporter
