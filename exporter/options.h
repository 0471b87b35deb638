// The export flags: --sink, repeatable, in Heapster's syntax (influx_sink.h, otlp_sink.h), and
// --heapster-metrics (the Prometheus exposition, prometheus_text.h). Parsed at the edge and
// validated with the program's other options; not thread-safe, used once at start-up.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/flags.h"
#include "base/result.h"
#include "exporter/influx_sink.h"
#include "exporter/otlp_sink.h"
#include "exporter/window_sink.h"

namespace exporter {

using SinkConfig = std::variant<InfluxSinkConfig, OtlpSinkConfig>;

// Parses one --sink value of any kind (influxdb:, otlp:). Errors as the kind's parser states.
base::Result<SinkConfig> ParseAnySinkFlag(std::string_view flag);

// The sink for `config`; opens no socket and starts no thread. Fails on a bad TLS setting.
base::Result<std::unique_ptr<WindowSink>> CreateSink(SinkConfig config, const SinkMetrics& metrics);

struct SinkOptions {
  std::vector<std::string> sinks;  // one --sink value each, in order
  bool heapster_metrics = false;   // --heapster-metrics: serve /metrics/heapster
  // --heapster-pod-resources: watch full Running pods for their requests and limits, and give
  // every Heapster consumer (sinks, /metrics/heapster) cpu/request, ..., */node_reservation.
  bool pod_resources = false;

  void AddFlags(base::FlagSet& flags);  // `this` must outlive `flags`
  // One message per bad --sink (unknown sink or option, bad value), secrets masked; and one for
  // --heapster-pod-resources without a consumer (no --sink, no --heapster-metrics).
  std::vector<std::string> Validate() const;
  // The sinks' settings; the options must be valid.
  std::vector<SinkConfig> Configs() const;
};

}  // namespace exporter
