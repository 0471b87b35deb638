// A minimal Prometheus registry for the program's own metrics (self-metrics), rendered in the
// text exposition format (version 0.0.4): counters, gauges and histograms with labels, plus
// collectors that refresh families from other components' state at scrape time. Each component
// registers its own families (apiserver::ServerMetrics, scraper::RegisterScrapeMetrics, ...);
// the apiserver serves the whole registry on /metrics.
//
// Names follow Prometheus conventions (snake_case, base units, `_total` for counters,
// `_seconds` for durations). Thread-safety: every method may be called from any thread;
// Observe/Add are a short critical section on the family's mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"

namespace base {

class MetricFamily {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  MetricFamily(std::string name, std::string help, Type type, std::vector<std::string> labels,
               std::vector<double> buckets = {});

  // Counter: add `v` (≥ 0). Gauge: set to `v` (also for a counter mirrored from another
  // component's monotonic total). Histogram: observe `v`.
  // `label_values` has one value per label name, in order.
  void Add(const std::vector<std::string>& label_values, double v);
  void Set(const std::vector<std::string>& label_values, double v);
  void Observe(const std::vector<std::string>& label_values, double v);
  // Histogram: observe every value of `vs` (one lock for all).
  void ObserveAll(const std::vector<std::string>& label_values, const std::vector<double>& vs);
  // Removes every series (e.g. per-node gauges of nodes that left).
  void Clear();

  void Render(std::string& out) const;

 private:
  struct Series {
    double value = 0;                     // counter / gauge
    std::vector<uint64_t> bucket_counts;  // histogram, per bucket (not cumulative)
    double sum = 0;
    uint64_t count = 0;
  };
  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> labels_;
  std::vector<double> buckets_;
  mutable base::Mutex mu_;
  std::map<std::vector<std::string>, Series> series_ GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  // The returned family lives as long as the registry.
  MetricFamily& Counter(std::string name, std::string help, std::vector<std::string> labels = {});
  MetricFamily& Gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  MetricFamily& Histogram(std::string name, std::string help, std::vector<std::string> labels,
                          std::vector<double> buckets);
  // Called on each scrape before rendering (to refresh gauges from other components).
  void AddCollector(std::function<void()> refresh);

  // Prometheus text format.
  std::string Render() const;

 private:
  mutable base::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ GUARDED_BY(mu_);
};

// Escapes a label value for the text format.
std::string EscapeLabelValue(const std::string& v);

}  // namespace base
