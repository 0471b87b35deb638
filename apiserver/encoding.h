// Encoders for the metrics.k8s.io objects, discovery documents and metav1.Table, in JSON
// (byte-compatible with what metrics-server's Go encoder writes) and in Kubernetes protobuf (the
// "k8s\0" + runtime.Unknown envelope, wire_format.h). metav1.Status, the error body, is status.h's.
//
// The per-object parts that do not depend on the request (timestamp, window, usage) are encoded
// once per window generation into an EncodedWindow when large lists or watches ask for them, or
// for the few objects of one response (EncodedItems); a response then only writes the object
// metadata (name, namespace, labels, creationTimestamp = response time) around them. While
// lists of many pods keep coming, the EncodedWindow also holds each pod's metadata (its head),
// which such a list copies with the rest unless the pod changed since, and stamps with its time.
//
// Thread-safety: functions are pure; an EncodedWindow is immutable and may be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/format.h"
#include "base/block_pool.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "kube/cache.h"
#include "kube/objects.h"
#include "window/publication.h"
#include "window/window.h"

namespace apiserver {

inline constexpr std::string_view kGroup = "metrics.k8s.io";

// The heads an EncodedWindow writes (EncodedWindow::Item::revision): for the pods `pods` holds
// now (none without), in the formats set.
struct EncodedWindowHeads {
  const kube::PodCache* pods = nullptr;
  bool json = false;
  bool protobuf = false;
};

// The request-independent encodings of one window, indexed like Window::nodes()/pods().
class EncodedWindow {
 public:
  // Views into the EncodedWindow's own storage: valid while it lives. 32 bytes per object; the
  // bytes are [JSON head][JSON tail][protobuf head][protobuf tail], heads empty unless written.
  struct Item {
    const char* data = nullptr;
    uint32_t json_size = 0;   // the JSON tail
    uint32_t proto_size = 0;  // the protobuf tail
    // A pod's heads: its list item up to the tail, metadata included, written from the pod
    // cache's object of this kube::Pod::revision (0: no heads), with a placeholder for the
    // creationTimestamp a list writes at `json_time` and `proto_time` (kHeadJsonTimeSize and
    // kHeadProtoTimeSize bytes). A list copies a head and its tail as one piece when the pod
    // it lists has that revision, instead of writing the metadata from the cached pod.
    uint32_t revision = 0;
    uint16_t json_head = 0;   // 0: no JSON head
    uint16_t proto_head = 0;  // 0: no protobuf head
    uint16_t json_time = 0;
    uint16_t proto_time = 0;

    // `"timestamp":...,"window":...,"usage"|"containers":...}`
    std::string_view json_tail() const { return {data + json_head, json_size}; }
    // NodeMetrics/PodMetrics fields 2.. (everything but metadata)
    std::string_view proto_tail() const {
      return {data + json_head + json_size + proto_head, proto_size};
    }
    // `{"metadata":{...},` and the tail: the item of a JSON list.
    std::string_view json_item() const { return {data, size_t{json_head} + json_size}; }
    // Field 2 of the PodMetricsList (tag, length, ObjectMeta field, tail): an item of a
    // protobuf list.
    std::string_view proto_item() const {
      return {data + json_head + json_size, size_t{proto_head} + proto_size};
    }
  };
  // The sizes of the creationTimestamp placeholders in the heads: RFC 3339 seconds, and the
  // ObjectMeta field 8 of a time whose seconds take a 5-byte varint (1978 to 3058).
  static constexpr size_t kHeadJsonTimeSize = 20;
  static constexpr size_t kHeadProtoTimeSize = 10;

  // Which heads to write (EncodedWindowHeads).
  using Heads = EncodedWindowHeads;
  // Encodes every node and pod of `window`, with `heads`.
  explicit EncodedWindow(std::shared_ptr<const window::Window> window, Heads heads = {});
  // Gives the blocks back to the pool they came from.
  ~EncodedWindow();
  EncodedWindow(const EncodedWindow&) = delete;
  EncodedWindow& operator=(const EncodedWindow&) = delete;

  // The pool every EncodedWindow takes its blocks from (for benchmarks' accounting).
  static const base::BlockPool& Blocks();

  const window::Window& window() const { return *window_; }
  const std::shared_ptr<const window::Window>& shared_window() const { return window_; }
  const Item& node(const window::NodeMetrics* n) const {
    return nodes_[n - window_->nodes().data()];
  }
  const Item& pod(const window::PodMetrics* p) const { return pods_[p - window_->pods().data()]; }

 private:
  // Copies the heads and tails into blocks_ and returns views of the copies.
  Item Store(std::string_view json_head, std::string_view json, std::string_view proto_head,
             std::string_view proto);

  std::shared_ptr<const window::Window> window_;
  std::vector<Item> nodes_;
  std::vector<Item> pods_;
  // Every item's bytes, back to back in the blocks of a process-wide base::BlockPool (an item
  // too large for one gets a block of its own from the heap): one block per ~800 pods instead of
  // two allocations per pod, no per-string header or rounding; and the blocks of the window
  // before are reused instead of mapped and faulted in again at every tick.
  std::shared_ptr<base::BlockPool> pool_;
  std::vector<char*> blocks_;                          // from pool_
  std::vector<std::unique_ptr<char[]>> large_blocks_;  // one item each
  char* block_ = nullptr;  // the block items are appended to
  size_t block_used_ = 0;  // bytes used in block_
};

// The encodings of the newest window asked for, shared by everything that serves it (large
// lists and the watch hub), so that each window is encoded once. Thread-safe.
//
// A window is encoded only when something needs all of it: encoding 150,000 pods takes ~100 ms
// and its encodings and the spare blocks kept for the next ones ~20 KiB per node of 30 pods, while
// the usual requests (the HPA's, kubectl top of a namespace) select a few objects, which a
// response encodes for itself (EncodedItems). Once a large list or a watch has used them, the
// encodings follow each new window (EncodeWhileUsed), so that such requests do not wait for an
// encoding; when a whole window passes without one, they are dropped.
class EncodedWindowCache {
 public:
  // With `pods`, which must outlive the cache, the encodings that follow the windows
  // (EncodeWhileUsed) include the pods' heads (EncodedWindow::Item::revision) in the formats
  // lists of many pods asked for since the window before (NoteList): such lists then copy their
  // items whole, in about half the time (README, Performance), for ~200 bytes more per pod and
  // format while lists keep coming. The encodings a request asks for (Get) have none, so that
  // the first list after a pause does not wait for them.
  explicit EncodedWindowCache(const kube::PodCache* pods = nullptr) : pods_(pods) {}

  // The encodings of `window`: the kept ones, or encoded now by the caller (one encoder at a
  // time: a caller for the window being encoded waits for it). Asking for an older window than
  // the one kept encodes it without replacing the kept one. Counts as a use (EncodeWhileUsed).
  std::shared_ptr<const EncodedWindow> Get(std::shared_ptr<const window::Window> window) const;

  // For serving `window`, the current one, without encoding anything: its encodings if they are
  // ready; if it was announced and is not encoded yet, the newest encodings there are (of an
  // older window, whose lists carry its own resourceVersion), so that a request never waits for
  // an encoding; otherwise null. Not a use.
  std::shared_ptr<const EncodedWindow> Ready(
      const std::shared_ptr<const window::Window>& window) const;

  // Counts a use of the encodings Ready() gave (EncodeWhileUsed).
  void NoteUse() const;
  // Says that a list of many pods in `format` (JSON or protobuf) was served from the encodings:
  // the next window's get the pods' heads in that format.
  void NoteList(Format format) const;

  // Says that Get() will be called for the window of `generation`, published now.
  void Announce(uint64_t generation) const;

  // Follows the windows `windows` publishes from now on, off the publisher's thread. When the kept
  // encodings were used (Get, NoteUse) since the window before was published, announces the new
  // window, then hands `run` the work of encoding it followed by `after` (may be empty); otherwise
  // hands `run` the work of dropping the kept encodings (a response that holds them keeps them
  // until it ends) and the spare blocks kept for the next ones, followed by `after`. `run` must not
  // run the work inline (the publisher's listeners must be quick): it posts it to the threads that
  // serve. The cache must outlive the subscription.
  [[nodiscard]] window::Publication::Subscription EncodeWhileUsed(
      window::Publication& windows, std::function<void(std::function<void()>)> run,
      std::function<void()> after) const;

  // Whether the kept encodings were used since the last window was published (for tests).
  bool used() const;

 private:
  // Get(), counting as a use when `use`, with `heads`.
  std::shared_ptr<const EncodedWindow> Encode(std::shared_ptr<const window::Window> window,
                                              bool use, EncodedWindow::Heads heads) const;
  // Drops the kept encodings if they are of a window older than `generation`.
  void DropOlderThan(uint64_t generation) const;

  const kube::PodCache* const pods_;
  mutable base::Mutex encode_mu_;  // held while encoding, by one caller of Get() at a time
  mutable base::Mutex mu_;         // held only to read or swap what is kept
  mutable std::shared_ptr<const EncodedWindow> last_ GUARDED_BY(mu_);
  mutable uint64_t announced_ GUARDED_BY(mu_) = 0;
  mutable bool used_ GUARDED_BY(mu_) = false;
  mutable bool json_lists_ GUARDED_BY(mu_) = false;  // NoteList since the last window
  mutable bool proto_lists_ GUARDED_BY(mu_) = false;
};

// Orders a window's pod and a cached pod (or two of either) by (namespace, name), as both are
// sorted. The window's names are usually the cache's own buffers (the store takes them from it,
// scraper::StoreSettings::pod_names): the same buffer is equal without reading it.
template <typename A, typename B>
int ComparePodKeys(const A& a, const B& b) {
  const int ns =
      a.namespace_.SharesBufferWith(b.namespace_) ? 0 : a.namespace_.compare(b.namespace_);
  if (ns != 0) return ns;
  return a.name.SharesBufferWith(b.name) ? 0 : a.name.compare(b.name);
}

// The object metadata written around a pre-encoded item.
struct ItemMeta {
  std::string_view name;
  std::string_view namespace_;           // empty for nodes
  const kube::Labels* labels = nullptr;  // copied from the Node/Pod; may be null
  std::string_view resource_version;     // metadata.resourceVersion; empty = left out (gets, lists)
  // name, namespace and labels are written without escaping (kube::Pod::plain); false: each is
  // escaped as needed.
  bool plain = false;
  // kube::Pod::revision of the pod these come from (0: none): a list writes the item's head
  // instead when it has this revision (EncodedWindow::Item).
  uint32_t revision = 0;
};

// One element of a list response.
struct ListEntry {
  ItemMeta meta;
  const EncodedWindow::Item* item = nullptr;
  const window::NodeMetrics* node = nullptr;  // exactly one of node/pod is set
  const window::PodMetrics* pod = nullptr;
};

enum class Kind { kNode, kPod };

// The encodings of the objects of one response (a get, or a list of a few objects) when the
// window's shared encodings are not ready: the bytes EncodedWindow holds for the same objects, in
// the response's format only, in one allocation. Movable: the entries' items stay valid (they
// point into the heap).
class EncodedItems {
 public:
  EncodedItems() = default;
  // Encodes the node or pod of each entry and points the entry's `item` at its encoding: the
  // protobuf tail for kProtobuf (its json_tail() is empty), the JSON tail otherwise (its
  // proto_tail() is empty).
  EncodedItems(std::span<ListEntry> entries, Format format);

  size_t bytes() const { return bytes_size_; }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t bytes_size_ = 0;
  std::vector<EncodedWindow::Item> items_;
};

// Full response bodies. `api_version` is "metrics.k8s.io/v1beta1" or "metrics.k8s.io/v1"; `now`
// becomes metadata.creationTimestamp as metrics-server does.
std::string EncodeObject(Format format, Kind kind, std::string_view api_version,
                         const ListEntry& entry, base::UnixNanos now);
// `resource_version` (the window generation) becomes the list's metadata.resourceVersion; empty
// leaves it out.
std::string EncodeList(Format format, Kind kind, std::string_view api_version,
                       const std::vector<ListEntry>& entries, base::UnixNanos now,
                       std::string_view resource_version = {});

// EncodeList's body (JSON or protobuf) a piece at a time, for writing a large list in chunks
// from a small buffer that is reused (and stays in cache) instead of building the whole body
// first: 64 MB for 150,000 pods, faulted in afresh for every request and written only once it
// is complete. The body's size is known before its first byte (a sizing pass over the entries
// by the same code that writes them), so it can be sent with a Content-Length; the pieces put
// back to back are EncodeList's body byte for byte.
//
// Thread-safety: a plain value; the entries (and what they point to) must outlive it.
class ListEncoder {
 public:
  ListEncoder(Format format, Kind kind, std::string_view api_version,
              std::span<const ListEntry> entries, base::UnixNanos now,
              std::string_view resource_version);

  // Appends the next bytes of the body to `out`, whole items, until `out` holds at least
  // `bytes` or the body is complete. Returns true once the body is complete.
  bool Next(std::string& out, size_t bytes);
  bool done() const { return state_ == State::kDone; }
  // The body's size in bytes.
  size_t size() const { return size_; }

 private:
  enum class State { kHead, kItems, kDone };

  // Whether `e` is written as its item's head and tail (EncodedWindow::Item::revision).
  bool UsesHead(const ListEntry& e) const {
    return heads_ && e.item->revision != 0 && e.item->revision == e.meta.revision &&
           (proto_ ? e.item->proto_head : e.item->json_head) != 0 &&
           e.meta.resource_version.empty();
  }

  bool proto_;
  bool heads_ = false;  // creation_ has the size of the heads' placeholder
  std::span<const ListEntry> entries_;
  std::string creation_;              // JSON: metadata.creationTimestamp; protobuf: its field 8
  std::string head_;                  // the bytes before the first item
  std::string tail_;                  // and after the last
  // Per item: protobuf, its ObjectMeta message's size; JSON, the item's size (without the comma).
  std::vector<uint32_t> sizes_;
  size_t size_ = 0;
  size_t next_ = 0;  // the next entry to write
  State state_ = State::kHead;
};

// Watch events in JSON (metav1.WatchEvent, newline-delimited as k8s.io/apiserver streams them):
// appends `{"type":<type>,"object":<the object with kind and apiVersion>}` and a newline.
// `creation` is the metadata.creationTimestamp text (FormatTime).
void AppendWatchEventJson(std::string& out, std::string_view type, Kind kind,
                          std::string_view api_version, const ListEntry& entry,
                          std::string_view creation);
// A BOOKMARK event: an empty object of `kind` carrying only `resource_version` (and, when
// `initial_events_end`, the annotation k8s.io/initial-events-end: "true" that ends the initial
// events of a sendInitialEvents watch), as the Go types encode their zero values.
std::string EncodeBookmarkJson(Kind kind, std::string_view api_version,
                               std::string_view resource_version, bool initial_events_end);
// An ERROR event carrying `status_json` (a Status body, status.h; a trailing newline is dropped).
std::string EncodeErrorEventJson(std::string_view status_json);

// Watch events in protobuf (application/vnd.kubernetes.protobuf;stream=watch), as
// k8s.io/apiserver frames them: a 4-byte big-endian length, then metav1.WatchEvent {1 type,
// 2 RawExtension {1 raw}} without an envelope of its own (the stream serializer is the raw one);
// `raw` is the object with its envelope, as EncodeObject writes it.
void AppendWatchEventProto(std::string& out, std::string_view type, Kind kind,
                           std::string_view api_version, const ListEntry& entry,
                           base::UnixNanos now);
// As EncodeBookmarkJson, in protobuf: the object's metadata carries resourceVersion (and the
// annotation); its timestamp and window are the zero values.
std::string EncodeBookmarkProto(Kind kind, std::string_view api_version,
                                std::string_view resource_version, bool initial_events_end);
// An ERROR event carrying `status_protobuf` (a protobuf Status body, status.h).
std::string EncodeErrorEventProto(std::string_view status_protobuf);

// metav1.Table for `kubectl get {nodes,pods}.metrics.k8s.io`. `table_version` is "v1" or
// "v1beta1" (meta.k8s.io); `include_object` is "Metadata", "Object" or "None".
// `resource_version` as EncodeList's.
std::string EncodeTable(Kind kind, std::string_view api_version, std::string_view table_version,
                        std::string_view include_object, const std::vector<ListEntry>& entries,
                        base::UnixNanos now, std::string_view resource_version = {});

// A Table watch's event (`kubectl get --watch`), as k8s.io/apiserver transforms watch events:
// `{"type":<type>,"object":<a meta.k8s.io Table of one row>}` and a newline. The row is as
// EncodeTable's; the Table's metadata.resourceVersion is the entry's. Upstream sends the column
// definitions only in a watch's first event: this writes kTableWatchNoColumns in their place, and
// the watch replaces it with TableColumnDefinitionsJson() in the first event it sends.
inline constexpr std::string_view kTableWatchNoColumns = "\"columnDefinitions\":null";
void AppendTableWatchEventJson(std::string& out, std::string_view type, Kind kind,
                               std::string_view api_version, std::string_view table_version,
                               std::string_view include_object, const ListEntry& entry,
                               std::string_view creation);
// `"columnDefinitions":[...]`, the columns of EncodeTable (Name, cpu, memory, Window).
std::string_view TableColumnDefinitionsJson();

// Discovery documents for the served versions (preferred = first of `versions`).
std::string EncodeApiGroupList(const std::vector<std::string>& versions);
std::string EncodeApiGroup(const std::vector<std::string>& versions);
// `watch`: the resources also advertise the watch verb.
std::string EncodeApiResourceList(std::string_view version, bool watch = false);

}  // namespace apiserver
