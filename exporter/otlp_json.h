// Heapster's points (heapster_schema.h) as an OTLP ExportMetricsServiceRequest in the OTLP/HTTP
// JSON encoding (opentelemetry-proto, opentelemetry/proto/collector/metrics/v1; the JSON
// mapping of the OTLP specification: lowerCamelCase field names, 64-bit integers as strings).
//
// Mapping:
//   - one ResourceMetrics whose resource has service.name = "cpp-metrics-server", one
//     ScopeMetrics with scope name "cpp-metrics-server/heapster";
//   - one Metric per Heapster metric name, named as Heapster named it ("cpu/usage_rate",
//     "memory/working_set", ...), in the order the names first appear, with the unit in UCUM
//     (OtlpUnit below), as a Gauge: Heapster's values are point-in-time samples;
//   - one NumberDataPoint per Point: its Heapster labels (type, pod_name, namespace_name,
//     container_name, nodename, ...) as string attributes under the same keys, timeUnixNano the
//     kubelet's sample time, asInt (a decimal string) or, for Heapster's float metrics, asDouble.
// Points with timestamp 0 (the cluster's points of an empty window) are left out.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/heapster_schema.h"

namespace exporter {

// The UCUM unit of a Heapster metric ("By", "{millicore}", "ms", "1", ...); "" when unknown.
std::string_view OtlpUnit(std::string_view metric);

// Appends the JSON request for `points` to `out`; returns the number of data points written.
std::size_t AppendOtlpJson(const std::vector<Point>& points, std::string& out);

}  // namespace exporter
