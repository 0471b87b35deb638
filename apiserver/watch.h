// Watch on NodeMetrics and PodMetrics, as a Kubernetes apiserver streams watch events.
//
// The resourceVersion of everything served is the window generation (window.h). Each published
// window becomes a snapshot: the objects a list would return (metrics joined with the node and
// Running-pod caches, --node-selector applied), and each new snapshot is compared object by
// object with the one before: ADDED for an object that appeared, MODIFIED for one whose usage,
// timestamp, window or labels changed, DELETED (carrying its last state) for one that is gone.
// Every watcher sees every window in order, so this is also the comparison with the window the
// watcher saw before.
// A label-selector watcher gets, for an object whose labels changed, ADDED when they start to
// match and DELETED (its previous state) when they stop, as k8s.io/apiserver's watch cache does.
//
// Cost: the events of one window are encoded once per (kind, version, format) watched (a Table
// format per Table version and includeObject), into
// one buffer shared by every watcher; a watcher's chunk points into it (an unfiltered watcher's
// is the whole buffer, a namespace's a few contiguous runs), so a watcher costs no copy of the
// events. A watcher still writing an earlier window when max_queued_windows more have arrived is
// closed (its client re-watches and, if too far behind, relists): nothing is buffered without
// bound. More than max_watches watches at once get 429.
//
// Semantics (k8s.io/apiserver's, see the README for what differs):
//  - resourceVersion unset or "0": ADDED for every current object, then changes;
//  - resourceVersion N = the current generation: changes after it; N = the one before: the
//    changes of the latest window first; any other N: an ERROR event with a 410 Expired Status
//    ("too old resource version"), also for N newer than the current generation (after a
//    restart generations start again at 0, and the 410 makes clients relist);
//  - sendInitialEvents=true: ADDED for every current object, then a BOOKMARK annotated
//    k8s.io/initial-events-end; sendInitialEvents=false: no initial events;
//  - allowWatchBookmarks: a BOOKMARK carrying the new generation for each window that brought
//    the watcher no event;
//  - timeoutSeconds ends the stream cleanly; without it a watch lasts a random time between one
//    and two min_request_timeout, as k8s.io/apiserver's --min-request-timeout does.
//
// Thread-safety: Watch() and watchers() may be called from any thread. All of the hub's work
// runs on a strand of the io_context. The io_context must be stopped (and its threads joined)
// before the caches, clock and publication given to the hub are destroyed.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/encoding.h"
#include "apiserver/request.h"
#include "base/clock.h"
#include "kube/cache.h"
#include "kube/selector.h"
#include "window/publication.h"

namespace apiserver {

struct WatchOptions {
  // Served versions, as MetricsApiOptions::versions (at most two).
  std::vector<std::string> versions = {"v1beta1", "v1"};
  // --node-selector: nodes that do not match have no metrics, as in lists.
  kube::LabelSelector node_selector;
  // --max-watches: watches open at once; one more is answered 429.
  uint32_t max_watches = 2000;
  // Windows a watcher may have waiting while it still writes an earlier one.
  size_t max_queued_windows = 2;
  // k8s.io/apiserver's --min-request-timeout: the length of a watch without timeoutSeconds is
  // random in [1, 2) times this.
  std::chrono::seconds min_request_timeout{1800};
  // The window encodings shared with the MetricsApi (MetricsApiOptions::encoded), so that a
  // window is encoded once for lists and watches; null: the hub keeps its own. Must outlive the
  // hub.
  const EncodedWindowCache* encoded = nullptr;
};

// One watch request, validated (MetricsApi parses and checks the query).
struct WatchRequest {
  Kind kind = Kind::kPod;
  std::string version;     // "v1beta1" or "v1", one of WatchOptions::versions
  std::string namespace_;  // pods only; empty = every namespace
  std::string name;        // one object (the /watch/.../{name} path); empty = all
  kube::LabelSelector labels;
  kube::FieldSelector fields;  // on metadata.name and metadata.namespace
  // nullopt for "" and "0" (start from the current window, whatever it is).
  std::optional<uint64_t> resource_version;
  std::optional<bool> send_initial_events;  // the query parameter, when given
  bool allow_bookmarks = false;
  std::optional<std::chrono::seconds> timeout;  // timeoutSeconds
  // kJson, kProtobuf (framed, see encoding.h) or kTable (JSON events whose objects are Tables of
  // one row, see AppendTableWatchEventJson; the column definitions only in the first event).
  Format format = Format::kJson;
  std::string table_version;   // kTable: "v1" or "v1beta1" (meta.k8s.io)
  std::string include_object;  // kTable: "Metadata", "Object" or "None"
};

class WatchHub {
 public:
  // Subscribes to `publication`; every reference must outlive the hub's work (see above).
  WatchHub(boost::asio::io_context& io, window::Publication& publication,
           const kube::NodeCache& nodes, const kube::PodCache& pods, const base::Clock& clock,
           WatchOptions options);
  // Unsubscribes and ends every watch (each stream then ends cleanly).
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  const WatchOptions& options() const;

  // The response to a watch: 200 with an event stream (application/json, also for a Table watch,
  // or application/vnd.kubernetes.protobuf;stream=watch), or 429 at max_watches.
  HttpResponse Watch(WatchRequest request);

  // Watches open now.
  uint32_t watchers() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace apiserver
