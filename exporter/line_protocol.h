// InfluxDB line protocol in Heapster's layout.
//
// Heapster's InfluxDB sink wrote one point per metric per object, tagged with the object's
// labels, at nanosecond precision:
//   - default: the measurement is the metric name and the one field is "value":
//       cpu/usage_rate,namespace_name=default,pod_name=web,type=pod value=250i 1700000000000000000
//   - withfields=true: the metric name is split at its first '/' into measurement and field:
//       cpu,namespace_name=default,pod_name=web,type=pod usage_rate=250i 1700000000000000000
// Values are integers ("i" suffix) as Heapster stored them. Measurement names escape ',' and ' ';
// tag keys and values escape ',', '=' and ' '; a line never contains a raw newline (names that
// hold one have it replaced by a space, which is then escaped).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <span>
#include <string>

#include "exporter/heapster_schema.h"

namespace exporter {

struct LineProtocolOptions {
  bool with_fields = false;  // Heapster's withfields=true layout
};

// Appends one line per point, each ending in '\n', to `out`.
void AppendLineProtocol(std::span<const Point> points, const LineProtocolOptions& options,
                        std::string& out);

}  // namespace exporter
