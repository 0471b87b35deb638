// The scraper's own metrics, registered in the program's registry as metrics-server's scraper
// (pkg/scraper/scraper.go) and storage (pkg/storage/monitoring.go) register theirs. Both are
// refreshed by a collector when /metrics is scraped, from the components' thread-safe
// accessors, so nothing on the scrape path records into the registry.
//
// Thread-safety: call once each at assembly, before serving; `manager` and `store` must outlive
// `registry` (its collectors read them).
#pragma once

#include "base/metrics.h"
#include "scraper/manager.h"
#include "scraper/store.h"

namespace scraper {

// metrics_server_kubelet_request_duration_seconds{node} (the last finished tick's requests),
// metrics_server_kubelet_last_request_time_seconds{node} (when that request ended, any outcome:
// metrics-server's meaning), metrics_server_kubelet_last_success_time_seconds{node} (the last
// successful scrape, kept across failed ticks while the node exists),
// metrics_server_kubelet_request_total{success},
// metrics_server_scraper_last_tick_timestamp_seconds, metrics_server_scraper_tick_duration_seconds
// (the last finished tick). With --kubelet-summary-api (ManagerSettings::summary_api) also
// metrics_server_kubelet_summary_request_total{success} (/stats/summary reads, made after each
// successful scrape) and metrics_server_kubelet_summary_last_failed{node} (1 when the last
// tick's read of that node's summary failed: 404, 403, malformed, timeout; else 0).
void RegisterScrapeMetrics(base::MetricsRegistry& registry, const Manager& manager);

// metrics_server_storage_points{type=node|pod|container}: objects in the last window.
void RegisterStorageMetrics(base::MetricsRegistry& registry, const Store& store);

}  // namespace scraper
