#include "scraper/self_metrics.h"

#include <chrono>
#include <memory>

namespace scraper {

void RegisterScrapeMetrics(base::MetricsRegistry& registry, const Manager& manager) {
  auto& request_duration =
      registry.Histogram("metrics_server_kubelet_request_duration_seconds",
                         "Duration of the last scrape of each node's kubelet (request and parse).",
                         {"node"}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  auto& request_total = registry.Counter("metrics_server_kubelet_request_total",
                                         "Kubelet scrapes since start, by outcome.", {"success"});
  // metrics-server's name and meaning: when the last request to each node's kubelet ended,
  // whatever its outcome (whole seconds, as it sets it).
  auto& last_request = registry.Gauge(
      "metrics_server_kubelet_last_request_time_seconds",
      "Time of last request performed to Kubelet API since unix epoch in seconds", {"node"});
  auto& last_success = registry.Gauge(
      "metrics_server_kubelet_last_success_time_seconds",
      "Time of the last successful scrape of each node's kubelet since unix epoch in seconds.",
      {"node"});
  auto& last_tick = registry.Gauge("metrics_server_scraper_last_tick_timestamp_seconds",
                                   "Unix time at which the last scrape tick started.");
  auto& tick_duration = registry.Gauge("metrics_server_scraper_tick_duration_seconds",
                                       "Duration of the last complete scrape tick.");
  // --kubelet-summary-api only: /stats/summary reads by outcome, and per node whether the last
  // tick's read failed (1) or not (0); nodes whose scrape failed read no summary and are absent.
  base::MetricFamily* summary_total = nullptr;
  base::MetricFamily* summary_failed = nullptr;
  if (manager.SummaryApi()) {
    summary_total = &registry.Counter("metrics_server_kubelet_summary_request_total",
                                      "Kubelet /stats/summary reads since start, by outcome.",
                                      {"success"});
    summary_failed = &registry.Gauge(
        "metrics_server_kubelet_summary_last_failed",
        "1 when the last read of each node's kubelet /stats/summary failed, else 0.", {"node"});
  }
  // The per-node histogram shows the last finished tick only: rebuilt when a new report appears.
  registry.AddCollector([&, summary_total, summary_failed, seen = std::make_shared<std::shared_ptr<const TickReport>>()] {
    auto report = manager.LastReport();
    if (report != nullptr && report != *seen) {
      *seen = report;
      request_duration.Clear();
      last_request.Clear();
      last_success.Clear();
      if (summary_failed != nullptr) summary_failed->Clear();
      for (const auto& n : report->nodes) {
        if (summary_failed != nullptr && n.success) {
          summary_failed->Set({n.node}, n.summary_error.empty() ? 0 : 1);
        }
        if (n.started != 0) {
          request_duration.Observe({n.node}, std::chrono::duration<double>(n.duration).count());
          last_request.Set({n.node},
                           static_cast<double>((n.started + n.duration.count()) / 1000000000));
        }
        if (n.last_success != 0) {
          last_success.Set({n.node}, static_cast<double>(n.last_success) / 1e9);
        }
      }
      tick_duration.Set({}, std::chrono::duration<double>(report->duration).count());
    }
    request_total.Set({"true"}, static_cast<double>(manager.TotalSuccesses()));
    request_total.Set({"false"}, static_cast<double>(manager.TotalFailures()));
    if (summary_total != nullptr) {
      summary_total->Set({"true"}, static_cast<double>(manager.SummarySuccesses()));
      summary_total->Set({"false"}, static_cast<double>(manager.SummaryFailures()));
    }
    last_tick.Set({}, static_cast<double>(manager.LastTickStart()) / 1e9);
  });
}

void RegisterStorageMetrics(base::MetricsRegistry& registry, const Store& store) {
  auto& points = registry.Gauge("metrics_server_storage_points",
                                "Objects held by the metric store, by type.", {"type"});
  registry.AddCollector([&] {
    StoreStats stats = store.Stats();
    points.Set({"node"}, static_cast<double>(stats.servable_nodes));
    points.Set({"pod"}, static_cast<double>(stats.servable_pods));
    points.Set({"container"}, static_cast<double>(stats.servable_containers));
  });
}

}  // namespace scraper
