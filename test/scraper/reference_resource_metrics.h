// The kubelet text parser as it was before the fast path (scraper/resource_metrics.cc at the
// commit that added this file), kept verbatim as the reference the differential test and
// parser_bench compare the production parser against. Same contract as
// scraper::ParseResourceMetrics and scraper::ParsePrometheusFloat; not for production use.
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
