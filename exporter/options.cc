#include "exporter/options.h"

namespace exporter {

base::Result<SinkConfig> ParseAnySinkFlag(std::string_view flag) {
  if (flag.starts_with("otlp:")) {
    auto config = ParseOtlpSinkFlag(flag);
    if (!config.ok()) return base::MakeError(config.error());
    return SinkConfig(std::move(config).value());
  }
  // The InfluxDB parser also names the supported kinds when the kind is unknown.
  auto config = ParseSinkFlag(flag);
  if (!config.ok()) return base::MakeError(config.error());
  return SinkConfig(std::move(config).value());
}

base::Result<std::unique_ptr<WindowSink>> CreateSink(SinkConfig config,
                                                     const SinkMetrics& metrics) {
  return std::visit(
      [&](auto&& c) -> base::Result<std::unique_ptr<WindowSink>> {
        using Config = std::decay_t<decltype(c)>;
        auto sink = [&] {
          if constexpr (std::is_same_v<Config, InfluxSinkConfig>) {
            return InfluxSink::Create(std::move(c), metrics);
          } else {
            return OtlpSink::Create(std::move(c), metrics);
          }
        }();
        if (!sink.ok()) return sink.status();
        return std::unique_ptr<WindowSink>(std::move(sink).value());
      },
      std::move(config));
}

void SinkOptions::AddFlags(base::FlagSet& flags) {
  flags.StringArray(
      "sink", &sinks,
      "Where to write each window in Heapster's schema, in Heapster's syntax; repeatable: "
      "influxdb:http://host:8086?db=k8s&user=..&pw=..&secure=true|false&withfields=true|false, "
      "or otlp:http(s)://host:4318[/path]?ca=FILE&headers=name=value,.. (OTLP/HTTP JSON). "
      "Writes never delay the scrape: at most 8 windows are queued per sink (the oldest is "
      "dropped and counted in metrics_server_sink_dropped_windows_total).");
  flags.Bool("heapster-metrics", &heapster_metrics,
             "Serve Heapster's metric set (heapster_cpu_usage_rate, ...) in Prometheus text "
             "format at /metrics/heapster, authorized like /metrics (get on that "
             "nonResourceURL). Encoded once per window, on the first request for it.");
  flags.Bool("heapster-pod-resources", &pod_resources,
             "Add Heapster's cpu/request, cpu/limit, memory/request, memory/limit, "
             "*/node_capacity, */node_allocatable, */node_reservation and */node_utilization to "
             "--sink and --heapster-metrics: watches the Running pods in full (list and watch "
             "pods, as already granted) and keeps only their containers' requests and limits.");
}

std::vector<std::string> SinkOptions::Validate() const {
  std::vector<std::string> errors;
  for (const auto& sink : sinks) {
    if (auto config = ParseAnySinkFlag(sink); !config.ok()) errors.push_back(config.error());
  }
  if (pod_resources && sinks.empty() && !heapster_metrics) {
    errors.push_back(
        "--heapster-pod-resources adds names to --sink and --heapster-metrics; give at least one "
        "of them");
  }
  return errors;
}

std::vector<SinkConfig> SinkOptions::Configs() const {
  std::vector<SinkConfig> configs;
  for (const auto& sink : sinks) {
    if (auto config = ParseAnySinkFlag(sink); config.ok())
      configs.push_back(std::move(config).value());
  }
  return configs;
}

}  // namespace exporter
