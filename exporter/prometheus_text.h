// Heapster's metric set in the Prometheus text exposition format, version 0.0.4.
//
// Names: Heapster's metric name with every character outside [a-zA-Z0-9_] replaced by '_' and
// the prefix "heapster_": cpu/usage_rate -> heapster_cpu_usage_rate, memory/working_set ->
// heapster_memory_working_set. Values keep Heapster's units (millicores, bytes, ...), stated in
// each family's HELP line, so the numbers are those a Heapster dashboard or the InfluxDB sink
// shows. Every family is a gauge: the point carries no kind, and a rate() over a gauge still works
// for Heapster's few cumulative metrics.
// Labels: Heapster's tags, unchanged (type, pod_name, namespace_name, container_name, nodename,
// ...); a key outside [a-zA-Z_][a-zA-Z0-9_]* has its other characters replaced by '_'.
// Timestamps: each sample carries its kubelet sample time in milliseconds since the epoch; points
// with no sample time (the cluster of an empty window) are left out, as Prometheus would drop a
// sample from 1970.
// Families are written in the order their metric first appears in the points; within a family
// the points keep their order.
//
// Thread-safety: PrometheusText is a pure function. HeapsterExposition is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "exporter/heapster_schema.h"
#include "window/window.h"

namespace exporter {

// The content type of the exposition (format 0.0.4).
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// The Prometheus name of a Heapster metric, e.g. "heapster_cpu_usage_rate".
std::string PrometheusName(std::string_view heapster_metric);

// The whole exposition of `points`: per family a HELP line, a TYPE line and its samples.
std::string PrometheusText(std::span<const Point> points);

// The exposition of the newest window asked for, encoded once per window by the first request
// that asks for it and shared by later ones (the scrape never waits for it: the encoding runs on
// the serving thread). Asking for an older window than the one kept encodes it without replacing
// the kept one.
class HeapsterExposition {
 public:
  // `window` must not be null. Never returns null. `resources` (--heapster-pod-resources) is
  // asked only when `window` is encoded, i.e. once per window.
  std::shared_ptr<const std::string> Get(std::shared_ptr<const window::Window> window,
                                         const ResourcesSource& resources = {}) const;

 private:
  mutable base::Mutex mu_;
  // Weak, so that the cache never keeps a window alive; it keeps the control block, so a newer
  // window cannot be mistaken for a freed one.
  mutable std::weak_ptr<const window::Window> window_ GUARDED_BY(mu_);
  mutable uint64_t generation_ GUARDED_BY(mu_) = 0;
  mutable std::shared_ptr<const std::string> text_ GUARDED_BY(mu_);
  // The newest window encoded, kept (strongly: one window at most, usually the current one) only
  // when it holds the kubelet's summary, for the _rate forms of the next one.
  mutable std::shared_ptr<const window::Window> previous_ GUARDED_BY(mu_);
};

}  // namespace exporter
