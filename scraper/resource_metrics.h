// Parser for the kubelet's `/metrics/resource` endpoint: the Prometheus text exposition format
// 0.0.4, all of it (HELP/TYPE, escaped label values in any order, exponents, NaN/±Inf, optional
// millisecond timestamps), keeping only what the window needs: node and container cumulative
// CPU, working set, swap usage and container start time, plus
// `scrape_error`/`resource_scrape_error`.
//
// The parser does not allocate per sample: label values are string_views into the input (an
// escaped value is decoded once into the result's own storage), and a ResourceMetrics reused
// across calls keeps its capacity. A sample line in the form kubelets print is read in one pass
// (label values and digits several bytes at a time, floats by Clinger's exact fast path); any
// other line, and any line that fails, goes through the general reader, so every input gives
// the same result and the same error as with the general reader alone.
//
// Thread-safety: ParseResourceMetrics is reentrant; a ResourceMetrics is a plain value.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace scraper {

// One object's usage as read from one scrape. A field is meaningful only when its has_ flag is
// set: the kubelet omits lines it has no stats for.
struct ResourceUsage {
  bool has_cpu = false;
  bool has_memory = false;
  bool has_swap = false;  // node_/container_swap_usage_bytes: only kubelets with swap report it
  base::UnixNanos cpu_timestamp = 0;     // sample time of the CPU line (scrape time if absent)
  base::UnixNanos memory_timestamp = 0;  // sample time of the memory line
  uint64_t cpu_ns = 0;                   // cumulative CPU, core-nanoseconds
  uint64_t memory_bytes = 0;             // working set, bytes
  uint64_t swap_bytes = 0;               // swap in use, bytes
};

struct ContainerUsage : ResourceUsage {
  // Views into the parsed text or into ResourceMetrics::decoded; valid while both live.
  std::string_view namespace_;
  std::string_view pod;
  std::string_view container;
  base::UnixNanos start_time = 0;  // container_start_time_seconds; 0 = not reported
};

struct ResourceMetrics {
  ResourceUsage node;
  // One entry per (namespace, pod, container), sorted by that key.
  std::vector<ContainerUsage> containers;
  // scrape_error or resource_scrape_error was present with a non-zero value: the kubelet failed
  // to collect container stats.
  bool scrape_error = false;
  // Samples of known metrics dropped because their value or timestamp was out of range
  // (negative, NaN, ±Inf, timestamp ≤ 0 or beyond int64 nanoseconds); the object then lacks
  // that field.
  int ignored_samples = 0;

  // Storage for label values that contained escapes. Internal to the parser.
  std::deque<std::string> decoded;
  // Open-addressing index over `containers` used while parsing. Internal to the parser.
  std::vector<uint32_t> index;
  // Where the parser merges `containers` into order. Internal to the parser.
  std::vector<ContainerUsage> merge_buffer;

  // Empties the result but keeps its capacity.
  void Clear();
};

// Parses `text` (the whole response body). Samples without a timestamp get `scrape_time`.
// On success fills `out` (cleared first); the views in `out` point into `text`, which must
// outlive them. On malformed input returns an error naming the line and the problem, e.g.
// "line 7: label value: missing closing quote"; `out` is then unspecified but valid.
base::Status ParseResourceMetrics(std::string_view text, base::UnixNanos scrape_time,
                                  ResourceMetrics* out);

// The expositions a kubelet's /metrics/resource serves (through the Prometheus client library's
// promhttp handler, which picks one by the request's Accept header).
enum class ExpositionFormat {
  kText,               // text/plain; version=0.0.4
  kProtobufDelimited,  // MetricFamily messages, each preceded by its length as a varint
};

// The Accept header the scraper sends for /metrics/resource: the one Prometheus sends, protobuf
// first and the text format as the fallback, anything else last (kwok answers 406 to a header
// without a wildcard). A server that does not speak protobuf answers text.
inline constexpr char kResourceMetricsAccept[] =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
    "q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
// The Accept header with protobuf left out (--kubelet-request-protobuf=false).
inline constexpr char kResourceMetricsTextAccept[] = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

// The format of a response by its Content-Type: kProtobufDelimited for
// application/vnd.google.protobuf with proto=io.prometheus.client.MetricFamily and
// encoding=delimited; an error for any other protobuf encoding (never asked for); kText for
// anything else, an absent header included.
base::Result<ExpositionFormat> ExpositionFormatOf(std::string_view content_type);

// Parses `body` in the delimited protobuf exposition into `out`, with the same result as
// ParseResourceMetrics gives for the same metrics in the text format: the same fields, the same
// range checks, the same "first sample wins". Fields are read in any order and unknown ones are
// skipped; families the window does not need are skipped without reading their metrics. Every
// length is checked against the bytes that hold it. Views in `out` point into `body`. On
// malformed input returns an error naming the family by position, e.g. "family 3: metric:
// length beyond the message"; `out` is then unspecified but valid.
base::Status ParseResourceMetricsProtobuf(std::string_view body, base::UnixNanos scrape_time,
                                          ResourceMetrics* out);

// A sample value as Go's strconv.ParseFloat reads it (what Prometheus accepts): decimal with
// optional exponent, "NaN", "Inf"/"+Inf"/"-Inf" in any case, hex floats. False on anything else
// or on overflow. Exposed for tests.
bool ParsePrometheusFloat(std::string_view text, double* out);

}  // namespace scraper
