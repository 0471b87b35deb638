// List+watch loops that keep a NodeCache or PodCache in step with the kube-apiserver, the way
// client-go's reflector does:
//   1. list in pages (`limit`/`continue`), Replace() the cache, mark it synced;
//   2. watch from the list's resourceVersion with allowWatchBookmarks=true and a randomized
//      timeoutSeconds; apply ADDED/MODIFIED/DELETED, remember BOOKMARK resourceVersions;
//   3. a clean close re-watches at once from the last resourceVersion (a close within 1 s with
//      no event counts as a failure, so a broken server is not hammered); `410 Gone` (as a
//      status or an ERROR event), an undecodable or oversized event, or another 4xx re-lists
//      after a Backoff wait; a transport error, 429 or 5xx re-watches after a Backoff wait
//      (re-lists if no list succeeded yet). A failed list page restarts the list after a wait.
// The cache keeps serving its last content while the kube-apiserver is unreachable.
// Pods are listed and watched as PartialObjectMetadata (Accept
// `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`) with
// fieldSelector=status.phase=Running, so only metadata travels, and name, namespace and labels
// stay.
// NewPodResourcesInformer (--heapster-pod-resources) watches the same pods in full and keeps only
// their node and containers' requests and limits.
//
// Everything runs on the ApiClient's io_context; no thread per informer. Memory per event is
// bounded by max_event_bytes, per list page by max_page_bytes.
//
// Thread-safety: Start/Stop/HasSynced/stats may be called from any thread. The cache, client,
// clock and scheduler must outlive the informer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "kube/backoff.h"
#include "kube/cache.h"

namespace kube {

class ApiClient;

struct InformerOptions {
  std::size_t page_size = 500;                    // list `limit`; 0 = unpaged
  std::chrono::milliseconds list_timeout{60000};  // per page
  std::size_t max_page_bytes = 256 << 20;
  std::size_t max_event_bytes = 8 << 20;  // one watch event (a line of the stream)
  // Watches ask for timeoutSeconds uniformly in [min_watch_timeout, 2*min_watch_timeout).
  std::chrono::seconds min_watch_timeout{300};
  // No bytes for this long (beyond timeoutSeconds) = dead connection.
  std::chrono::seconds watch_idle_grace{60};
  std::string label_selector;  // server-side filter, e.g. --node-selector; "" = none
  BackoffOptions backoff;
};

// Counters for logs, tests and self-metrics. Monotonic.
struct InformerStats {
  uint64_t lists = 0;  // completed full lists
  uint64_t list_pages = 0;
  uint64_t watches = 0;  // watch requests started
  uint64_t events = 0;   // ADDED/MODIFIED/DELETED applied
  uint64_t bookmarks = 0;
  uint64_t relists_gone = 0;     // re-lists caused by 410 Gone
  uint64_t decode_errors = 0;    // events/pages that could not be decoded (or were too big)
  uint64_t failures = 0;         // transport errors and unexpected statuses
  std::string last_error;        // the most recent error, even if recovered since
  std::string resource_version;  // the last one seen
};

class Informer {
 public:
  virtual ~Informer() = default;  // implementations Stop()
  // Begins listing (asynchronously). Idempotent.
  virtual void Start() = 0;
  // Ends the loop and closes the watch connection; the cache keeps its content. Idempotent.
  virtual void Stop() = 0;
  virtual bool HasSynced() const = 0;
  virtual InformerStats Stats() const = 0;
};

// `scheduler` null = an AsioScheduler on the client's io_context.
std::unique_ptr<Informer> NewNodeInformer(ApiClient& client, NodeCache& cache,
                                          const base::Clock& clock, InformerOptions options = {},
                                          Scheduler* scheduler = nullptr,
                                          JitterSource jitter = DefaultJitterSource());
std::unique_ptr<Informer> NewPodInformer(ApiClient& client, PodCache& cache,
                                         const base::Clock& clock, InformerOptions options = {},
                                         Scheduler* scheduler = nullptr,
                                         JitterSource jitter = DefaultJitterSource());

// Full pods, Running only, narrowed to kube::PodResources as they are decoded (the opt-in
// pod-resources mode; the same `pods` list/watch permission as NewPodInformer).
std::unique_ptr<Informer> NewPodResourcesInformer(ApiClient& client, PodResourcesCache& cache,
                                                  const base::Clock& clock,
                                                  InformerOptions options = {},
                                                  Scheduler* scheduler = nullptr,
                                                  JitterSource jitter = DefaultJitterSource());

// Blocks until every informer has synced or `timeout` passes; true = all synced. For main, on a
// thread that is not running the io_context.
bool WaitForCacheSync(const std::vector<const Informer*>& informers,
                      std::chrono::milliseconds timeout);

}  // namespace kube
