// The kubelet text parser as it was before the fast path (scraper/resource_metrics.cc at
// d9e64bf), kept verbatim but for its namespace as the reference that the differential test and
// parser_bench compare the production parser against. Same contract as
// scraper::ParseResourceMetrics and scraper::ParsePrometheusFloat; not for production use. When
// the production parser learns a new family, teach this one the same, so that the differential
// test keeps comparing everything.
#pragma once

#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "scraper/resource_metrics.h"

namespace scraper_reference {

base::Status ParseResourceMetrics(std::string_view text, base::UnixNanos scrape_time,
                                  scraper::ResourceMetrics* out);

bool ParsePrometheusFloat(std::string_view text, double* out);

}  // namespace scraper_reference
