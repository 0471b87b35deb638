#include "exporter/options.h"

namespace exporter {

void SinkOptions::AddFlags(base::FlagSet& flags) {
  flags.StringArray(
      "sink", &sinks,
      "Where to write each window in Heapster's schema, in Heapster's syntax; repeatable: "
      "influxdb:http://host:8086?db=k8s&user=..&pw=..&secure=true|false&withfields=true|false. "
      "Writes never delay the scrape: at most 8 windows are queued per sink (the oldest is "
      "dropped and counted in metrics_server_sink_dropped_windows_total).");
  flags.Bool("heapster-metrics", &heapster_metrics,
             "Serve Heapster's metric set (heapster_cpu_usage_rate, ...) in Prometheus text "
             "format at /metrics/heapster, authorized like /metrics (get on that "
             "nonResourceURL). Encoded once per window, on the first request for it.");
}

std::vector<std::string> SinkOptions::Validate() const {
  std::vector<std::string> errors;
  for (const auto& sink : sinks) {
    if (auto config = ParseSinkFlag(sink); !config.ok()) errors.push_back(config.error());
  }
  return errors;
}

std::vector<InfluxSinkConfig> SinkOptions::Configs() const {
  std::vector<InfluxSinkConfig> configs;
  for (const auto& sink : sinks) {
    if (auto config = ParseSinkFlag(sink); config.ok())
      configs.push_back(std::move(config).value());
  }
  return configs;
}

}  // namespace exporter
