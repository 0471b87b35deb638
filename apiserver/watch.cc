#include "apiserver/watch.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <random>
#include <tuple>

#include "apiserver/status.h"
#include "apiserver/wire_format.h"
#include "base/mutex.h"

namespace apiserver {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxVersions = 2;
// JSON, protobuf, and Table for each of {v1, v1beta1} x {Metadata, Object, None}.
constexpr size_t kFormats = 8;

size_t FormatIndex(const WatchRequest& r) {
  switch (r.format) {
    case Format::kJson:
      return 0;
    case Format::kProtobuf:
      return 1;
    case Format::kTable:
      break;
  }
  const size_t include = r.include_object == "Object" ? 1 : r.include_object == "None" ? 2 : 0;
  return 2 + (r.table_version == "v1beta1" ? 3 : 0) + include;
}

// Per (kind, version, format).
template <typename T>
using PerEncoding = std::array<std::array<std::array<T, kFormats>, kMaxVersions>, 2>;

// An object as a list would serve it in one window.
struct Visible {
  std::shared_ptr<const void> object;  // the kube::Node or kube::Pod `entry.meta` points into
  ListEntry entry;                     // item/node/pod point into the snapshot's window
};

// Encoded events of one kind and version: newline-terminated JSON events back to back, and
// where each one is (the object it is about, for filtering; valid while its snapshots live).
//
// An object whose labels changed has three events in a row, and a watcher takes the one its
// selector calls for, as k8s.io/apiserver's watch cache does: MODIFIED when the object matched
// before and matches now, ADDED when it starts to match, DELETED (the previous state, at the new
// resourceVersion) when it stops matching.
struct EventBlock {
  enum class Variant { kPlain, kModified, kAdded, kDeleted };
  struct Ref {
    size_t offset = 0;
    size_t size = 0;
    const Visible* object = nullptr;  // the object of the event
    Variant variant = Variant::kPlain;
    const Visible* before = nullptr;  // not kPlain: the object in the previous and current
    const Visible* after = nullptr;   // snapshots
  };
  std::string bytes;
  std::vector<Ref> events;
  bool has_variants = false;  // some event is not kPlain
};

// One window as watchers see it.
struct Snapshot {
  uint64_t rv = 0;
  std::string rv_text;
  base::UnixNanos now = 0;  // metadata.creationTimestamp of the objects of its events
  std::string creation;     // the same, as text
  std::shared_ptr<const EncodedWindow> encoded;
  std::array<std::vector<Visible>, 2> objects;  // by Kind; sorted by (namespace, name)
  // ADDED for every object, built on first use (on the strand).
  PerEncoding<std::shared_ptr<const EventBlock>> initial;
};

// What changed from one snapshot to the next.
struct Transition {
  struct Change {
    std::string_view type;  // ADDED, MODIFIED, DELETED
    const Visible* object;  // in `cur`, or in `prev` for DELETED
    // MODIFIED with other labels: the object in `prev` (a label selector may now match it, or
    // no longer).
    const Visible* before = nullptr;
  };
  std::shared_ptr<const Snapshot> prev, cur;
  std::array<std::vector<Change>, 2> changes;
  PerEncoding<std::shared_ptr<const EventBlock>> blocks;
  PerEncoding<std::shared_ptr<const std::string>> bookmarks;
};

size_t KindIndex(Kind kind) { return kind == Kind::kNode ? 0 : 1; }

bool SameLabels(const kube::Labels* a, const kube::Labels* b) {
  if (a == b) return true;
  if (a == nullptr || b == nullptr) return (a == nullptr ? b->empty() : a->empty());
  return *a == *b;
}

std::shared_ptr<Snapshot> MakeSnapshot(std::shared_ptr<const window::Window> window,
                                       const EncodedWindowCache& encoded,
                                       const kube::NodeCache& nodes, const kube::PodCache& pods,
                                       const kube::LabelSelector& node_selector,
                                       base::UnixNanos now) {
  auto s = std::make_shared<Snapshot>();
  s->rv = window->generation();
  s->rv_text = std::to_string(s->rv);
  s->now = now;
  s->creation = FormatTime(now);
  s->encoded = encoded.Get(std::move(window));
  const window::Window& w = s->encoded->window();
  auto& node_objects = s->objects[KindIndex(Kind::kNode)];
  node_objects.reserve(w.nodes().size());
  for (const auto& m : w.nodes()) {
    std::shared_ptr<const kube::Node> node = nodes.Get(m.name);
    if (node == nullptr || !node_selector.Matches(node->labels)) continue;
    Visible v;
    v.entry.meta = {node->name, {}, &node->labels, {}};
    v.entry.item = &s->encoded->node(&m);
    v.entry.node = &m;
    v.object = std::move(node);
    node_objects.push_back(std::move(v));
  }
  auto& pod_objects = s->objects[KindIndex(Kind::kPod)];
  pod_objects.reserve(w.pods().size());
  for (const auto& m : w.pods()) {
    std::shared_ptr<const kube::Pod> pod = pods.Get(m.namespace_, m.name);
    if (pod == nullptr) continue;
    Visible v;
    v.entry.meta = {pod->name, pod->namespace_, &pod->labels, {}, pod->plain};
    v.entry.item = &s->encoded->pod(&m);
    v.entry.pod = &m;
    v.object = std::move(pod);
    pod_objects.push_back(std::move(v));
  }
  return s;
}

bool KeyLess(const Visible& a, const Visible& b) {
  return std::tie(a.entry.meta.namespace_, a.entry.meta.name) <
         std::tie(b.entry.meta.namespace_, b.entry.meta.name);
}

std::shared_ptr<Transition> MakeTransition(std::shared_ptr<const Snapshot> prev,
                                           std::shared_ptr<const Snapshot> cur) {
  auto t = std::make_shared<Transition>();
  for (size_t k = 0; k < 2; ++k) {
    const auto& before = prev->objects[k];
    const auto& after = cur->objects[k];
    auto& changes = t->changes[k];
    size_t i = 0, j = 0;
    while (i < before.size() || j < after.size()) {
      if (j == after.size() || (i < before.size() && KeyLess(before[i], after[j]))) {
        changes.push_back({"DELETED", &before[i++]});
      } else if (i == before.size() || KeyLess(after[j], before[i])) {
        changes.push_back({"ADDED", &after[j++]});
      } else {
        const Visible& a = before[i++];
        const Visible& b = after[j++];
        if (!SameLabels(a.entry.meta.labels, b.entry.meta.labels)) {
          changes.push_back({"MODIFIED", &b, &a});
        } else if (a.entry.item->json_tail() != b.entry.item->json_tail()) {
          changes.push_back({"MODIFIED", &b});
        }
      }
    }
  }
  t->prev = std::move(prev);
  t->cur = std::move(cur);
  return t;
}

void AppendEvent(EventBlock& block, const WatchRequest& r, std::string_view type, Kind kind,
                 std::string_view api_version, const Visible& v, const Snapshot& at,
                 EventBlock::Variant variant = EventBlock::Variant::kPlain,
                 const Visible* before = nullptr, const Visible* after = nullptr) {
  ListEntry e = v.entry;
  e.meta.resource_version = at.rv_text;
  const size_t offset = block.bytes.size();
  if (r.format == Format::kProtobuf) {
    AppendWatchEventProto(block.bytes, type, kind, api_version, e, at.now);
  } else if (r.format == Format::kTable) {
    AppendTableWatchEventJson(block.bytes, type, kind, api_version, r.table_version,
                              r.include_object, e, at.creation);
  } else {
    AppendWatchEventJson(block.bytes, type, kind, api_version, e, at.creation);
  }
  block.events.push_back({offset, block.bytes.size() - offset, &v, variant, before, after});
  if (variant != EventBlock::Variant::kPlain) block.has_variants = true;
}

bool Matches(const WatchRequest& r, const Visible& v) {
  const ItemMeta& m = v.entry.meta;
  if (!r.namespace_.empty() && m.namespace_ != r.namespace_) return false;
  if (!r.name.empty() && m.name != r.name) return false;
  if (!r.labels.Empty() && !r.labels.Matches(m.labels != nullptr ? *m.labels : kube::Labels{})) {
    return false;
  }
  if (!r.fields.Empty()) {
    return r.fields.Matches([&](std::string_view f) -> std::optional<std::string_view> {
      if (f == "metadata.name") return m.name;
      if (f == "metadata.namespace") return m.namespace_;
      return std::nullopt;
    });
  }
  return true;
}

// Whether a watcher with request `r` gets event `e`.
bool Wanted(const WatchRequest& r, const EventBlock::Ref& e) {
  using Variant = EventBlock::Variant;
  if (e.variant == Variant::kPlain) return Matches(r, *e.object);
  const bool was = Matches(r, *e.before);
  const bool is = Matches(r, *e.after);
  switch (e.variant) {
    case Variant::kModified:
      return was && is;
    case Variant::kAdded:
      return is && !was;
    case Variant::kDeleted:
      return was && !is;
    case Variant::kPlain:
      break;
  }
  return false;
}

bool Unfiltered(const WatchRequest& r) {
  return r.namespace_.empty() && r.name.empty() && r.labels.Empty() && r.fields.Empty();
}

// The runs of `block` a watcher with request `r` gets, adjacent events merged.
std::vector<std::string_view> Select(const EventBlock& block, const WatchRequest& r) {
  std::vector<std::string_view> parts;
  if (block.bytes.empty()) return parts;
  if (Unfiltered(r) && !block.has_variants) {
    parts.push_back(block.bytes);
    return parts;
  }
  // Events are sorted by (namespace, name): a namespace's are one range, found in O(log n).
  auto first = block.events.begin();
  auto last = block.events.end();
  if (!r.namespace_.empty()) {
    first = std::lower_bound(first, last, r.namespace_,
                             [](const EventBlock::Ref& e, const std::string& ns) {
                               return e.object->entry.meta.namespace_ < ns;
                             });
    last = std::upper_bound(first, last, r.namespace_,
                            [](const std::string& ns, const EventBlock::Ref& e) {
                              return ns < e.object->entry.meta.namespace_;
                            });
  }
  size_t run_start = 0, run_end = 0;
  for (auto it = first; it != last; ++it) {
    const EventBlock::Ref& e = *it;
    if (!Wanted(r, e)) continue;
    if (run_end != e.offset || run_end == run_start) {
      if (run_end > run_start)
        parts.emplace_back(block.bytes.data() + run_start, run_end - run_start);
      run_start = e.offset;
    }
    run_end = e.offset + e.size;
  }
  if (run_end > run_start) parts.emplace_back(block.bytes.data() + run_start, run_end - run_start);
  return parts;
}

StreamChunk OneString(std::shared_ptr<const std::string> s) {
  StreamChunk c;
  c.parts.push_back(*s);
  c.keep = std::move(s);
  return c;
}

}  // namespace

// One open watch: the stream its connection pulls chunks from.
class Watcher final : public ResponseStream, public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(WatchRequest request, size_t version_index, std::string api_version,
          std::shared_ptr<std::atomic<uint32_t>> count, size_t max_queued,
          std::function<void(std::shared_ptr<Watcher>)> forget)
      : request_(std::move(request)),
        version_index_(version_index),
        api_version_(std::move(api_version)),
        count_(std::move(count)),
        max_queued_(max_queued),
        forget_(std::move(forget)) {}
  ~Watcher() override { count_->fetch_sub(1); }

  const WatchRequest& request() const { return request_; }
  size_t version_index() const { return version_index_; }
  const std::string& api_version() const { return api_version_; }
  std::optional<asio::steady_timer>& timer() { return timer_; }
  // A Table watch: whether its first event (the one carrying the column definitions) was sent.
  bool& table_headers_sent() { return table_headers_sent_; }

  // Queues `chunk` (or hands it to the waiting connection). False when the watcher has ended,
  // or ends now because max_queued chunks already wait (it is too slow).
  bool Push(StreamChunk chunk) {
    std::function<void(StreamChunk)> next;
    {
      base::MutexLock lock(mu_);
      if (ended_) return false;
      if (pending_) {
        next = std::move(pending_);
        pending_ = nullptr;
      } else if (queue_.size() >= max_queued_) {
        queue_.clear();
        ended_ = true;
        spdlog::info("watch {}: closed, its client reads too slowly ({} windows waiting)",
                     api_version_, max_queued_);
        return false;
      } else {
        queue_.push_back(std::move(chunk));
        return true;
      }
    }
    next(std::move(chunk));
    return true;
  }

  // Ends the stream once what is queued is written.
  void End() {
    std::function<void(StreamChunk)> next;
    {
      base::MutexLock lock(mu_);
      ended_ = true;
      if (!pending_ || !queue_.empty()) return;
      next = std::move(pending_);
      pending_ = nullptr;
    }
    StreamChunk end;
    end.end = true;
    next(std::move(end));
  }

  bool ended() const {
    base::MutexLock lock(mu_);
    return ended_;
  }

  void Next(std::function<void(StreamChunk)> next) override {
    StreamChunk chunk;
    {
      base::MutexLock lock(mu_);
      if (!queue_.empty()) {
        chunk = std::move(queue_.front());
        queue_.pop_front();
      } else if (ended_) {
        chunk.end = true;
      } else {
        pending_ = std::move(next);
        return;
      }
    }
    next(std::move(chunk));
  }

  void Cancel() override {
    {
      base::MutexLock lock(mu_);
      queue_.clear();
    }
    End();
    if (forget_) forget_(shared_from_this());
  }

 private:
  const WatchRequest request_;
  const size_t version_index_;
  const std::string api_version_;
  std::shared_ptr<std::atomic<uint32_t>> count_;
  const size_t max_queued_;
  const std::function<void(std::shared_ptr<Watcher>)> forget_;
  std::optional<asio::steady_timer> timer_;  // on the hub's strand
  bool table_headers_sent_ = false;          // on the hub's strand

  mutable base::Mutex mu_;
  std::deque<StreamChunk> queue_ GUARDED_BY(mu_);
  std::function<void(StreamChunk)> pending_ GUARDED_BY(mu_);
  bool ended_ GUARDED_BY(mu_) = false;
};

struct WatchHub::State : std::enable_shared_from_this<WatchHub::State> {
  State(asio::io_context& io, const kube::NodeCache& n, const kube::PodCache& p,
        const base::Clock& c, WatchOptions o, const window::Source& w)
      : strand(asio::make_strand(io)),
        nodes(n),
        pods(p),
        clock(c),
        options(std::move(o)),
        windows(w),
        encoded(options.encoded != nullptr ? *options.encoded : own_encoded) {}

  asio::strand<asio::io_context::executor_type> strand;
  const kube::NodeCache& nodes;
  const kube::PodCache& pods;
  const base::Clock& clock;
  const WatchOptions options;
  const window::Source& windows;
  const EncodedWindowCache own_encoded;
  const EncodedWindowCache& encoded;  // options.encoded or own_encoded
  window::Publication::Subscription subscription;
  std::shared_ptr<std::atomic<uint32_t>> count = std::make_shared<std::atomic<uint32_t>>(0);
  std::atomic<bool> stopped{false};

  // On the strand only.
  std::shared_ptr<Snapshot> current;
  std::shared_ptr<Transition> last;  // from the snapshot before `current` to `current`
  std::vector<std::shared_ptr<Watcher>> watchers;

  Snapshot& Current() {
    if (current == nullptr) {
      current =
          MakeSnapshot(windows.Current(), encoded, nodes, pods, options.node_selector, clock.Now());
    }
    return *current;
  }

  std::shared_ptr<const EventBlock> Initial(Snapshot& s, Kind kind, size_t version,
                                            const WatchRequest& r) {
    auto& block = s.initial[KindIndex(kind)][version][FormatIndex(r)];
    if (block == nullptr) {
      auto b = std::make_shared<EventBlock>();
      const std::string api_version = "metrics.k8s.io/" + options.versions[version];
      for (const Visible& v : s.objects[KindIndex(kind)]) {
        AppendEvent(*b, r, "ADDED", kind, api_version, v, s);
      }
      block = std::move(b);
    }
    return block;
  }

  std::shared_ptr<const EventBlock> Block(Transition& t, Kind kind, size_t version,
                                          const WatchRequest& r) {
    auto& block = t.blocks[KindIndex(kind)][version][FormatIndex(r)];
    if (block == nullptr) {
      auto b = std::make_shared<EventBlock>();
      const std::string api_version = "metrics.k8s.io/" + options.versions[version];
      for (const auto& c : t.changes[KindIndex(kind)]) {
        if (c.before == nullptr) {
          AppendEvent(*b, r, c.type, kind, api_version, *c.object, *t.cur);
          continue;
        }
        using Variant = EventBlock::Variant;
        AppendEvent(*b, r, "MODIFIED", kind, api_version, *c.object, *t.cur, Variant::kModified,
                    c.before, c.object);
        AppendEvent(*b, r, "ADDED", kind, api_version, *c.object, *t.cur, Variant::kAdded, c.before,
                    c.object);
        AppendEvent(*b, r, "DELETED", kind, api_version, *c.before, *t.cur, Variant::kDeleted,
                    c.before, c.object);
      }
      block = std::move(b);
    }
    return block;
  }

  std::shared_ptr<const std::string> Bookmark(Transition& t, Kind kind, size_t version,
                                              const WatchRequest& r) {
    auto& b = t.bookmarks[KindIndex(kind)][version][FormatIndex(r)];
    if (b == nullptr) {
      b = std::make_shared<const std::string>(BookmarkEvent(
          r.format, kind, "metrics.k8s.io/" + options.versions[version], t.cur->rv_text, false));
    }
    return b;
  }

  // A Table watch's bookmarks are the JSON ones (kubectl does not ask for bookmarks).
  static std::string BookmarkEvent(Format format, Kind kind, std::string_view api_version,
                                   std::string_view rv, bool initial_events_end) {
    return format == Format::kProtobuf
               ? EncodeBookmarkProto(kind, api_version, rv, initial_events_end)
               : EncodeBookmarkJson(kind, api_version, rv, initial_events_end);
  }

  // The first event a Table watcher gets carries the column definitions (as k8s.io/apiserver's
  // watch encoder sends them only with its first object): the shared events have none, so the
  // first event of `chunk` is sent as three parts, its bytes before and after the placeholder
  // around the definitions. Nothing is copied.
  static void AddTableHeaders(Watcher& w, StreamChunk& chunk) {
    if (w.request().format != Format::kTable || w.table_headers_sent() || chunk.parts.empty()) {
      return;
    }
    const std::string_view first = chunk.parts.front();
    const std::string_view event = first.substr(0, first.find('\n'));
    const size_t at = event.find(kTableWatchNoColumns);
    if (at == std::string_view::npos) return;  // a bookmark: no Table yet
    std::vector<std::string_view> parts;
    parts.reserve(chunk.parts.size() + 2);
    parts.push_back(first.substr(0, at));
    parts.push_back(TableColumnDefinitionsJson());
    parts.push_back(first.substr(at + kTableWatchNoColumns.size()));
    parts.insert(parts.end(), chunk.parts.begin() + 1, chunk.parts.end());
    chunk.parts = std::move(parts);
    w.table_headers_sent() = true;
  }

  // Sends `w` the changes of `t`; false when the watcher has ended.
  bool Deliver(Transition& t, Watcher& w) {
    const WatchRequest& r = w.request();
    std::shared_ptr<const EventBlock> block = Block(t, r.kind, w.version_index(), r);
    StreamChunk chunk;
    chunk.parts = Select(*block, r);
    if (!chunk.parts.empty()) {
      AddTableHeaders(w, chunk);
      chunk.keep = std::move(block);
      return w.Push(std::move(chunk));
    }
    if (r.allow_bookmarks) {
      return w.Push(OneString(Bookmark(t, r.kind, w.version_index(), r)));
    }
    return !w.ended();
  }

  void OnWindow(std::shared_ptr<const window::Window> window) {
    if (stopped) return;
    std::shared_ptr<const Snapshot> prev = current;
    if (watchers.empty() || prev == nullptr) {
      // No one to tell: nothing is built until a watch starts (from the then current window).
      current.reset();
      last.reset();
      return;
    }
    // Taken already (a watch started after the window was published, before this task ran).
    if (window->generation() <= prev->rv) return;
    current =
        MakeSnapshot(std::move(window), encoded, nodes, pods, options.node_selector, clock.Now());
    last = MakeTransition(std::move(prev), current);
    std::vector<std::shared_ptr<Watcher>> kept;
    kept.reserve(watchers.size());
    for (auto& w : watchers) {
      if (Deliver(*last, *w)) {
        kept.push_back(std::move(w));
      } else {
        if (w->timer()) w->timer()->cancel();
        w->End();
      }
    }
    watchers.swap(kept);
  }

  void Forget(const std::shared_ptr<Watcher>& w) {
    if (w->timer()) w->timer()->cancel();
    std::erase(watchers, w);
  }

  // Sends an ERROR event with `error` and ends the stream.
  static void Fail(Watcher& w, const ApiError& error) {
    const Format format = w.request().format;
    w.Push(OneString(std::make_shared<const std::string>(
        format == Format::kProtobuf ? EncodeErrorEventProto(EncodeStatus(format, error))
                                    : EncodeErrorEventJson(EncodeStatus(format, error)))));
    w.End();
  }

  void Start(const std::shared_ptr<Watcher>& w) {
    if (stopped || w->ended()) return w->End();
    const WatchRequest& r = w->request();
    Snapshot& now = Current();
    if (r.resource_version && *r.resource_version > now.rv &&
        *r.resource_version <= windows.Current()->generation()) {
      // The list that gave this version saw a window the hub has not taken yet: it is queued
      // on this strand ahead of the retry.
      asio::post(strand, [self = shared_from_this(), w] { self->Start(w); });
      return;
    }
    const bool initial = r.send_initial_events.value_or(!r.resource_version.has_value());
    bool replay_last = false;
    if (r.resource_version && *r.resource_version != now.rv) {
      if (last != nullptr && last->prev->rv == *r.resource_version && !initial) {
        replay_last = true;
      } else if (!initial || *r.resource_version > now.rv) {
        return Fail(*w, ResourceExpiredError(
                            "too old resource version: " + std::to_string(*r.resource_version) +
                            " (" + now.rv_text + ")"));
      }
    }
    if (initial) {
      // One chunk: the initial events, and the bookmark that ends them when asked for.
      std::shared_ptr<const EventBlock> block = Initial(now, r.kind, w->version_index(), r);
      StreamChunk chunk;
      chunk.parts = Select(*block, r);
      AddTableHeaders(*w, chunk);
      std::shared_ptr<const std::string> end;
      if (r.send_initial_events.value_or(false)) {
        end = std::make_shared<const std::string>(
            BookmarkEvent(r.format, r.kind, w->api_version(), now.rv_text, true));
        chunk.parts.push_back(*end);
      }
      chunk.keep = std::make_shared<
          std::pair<std::shared_ptr<const EventBlock>, std::shared_ptr<const std::string>>>(
          std::move(block), std::move(end));
      if (!chunk.parts.empty()) w->Push(std::move(chunk));
    }
    if (replay_last && !Deliver(*last, *w)) return w->End();
    watchers.push_back(w);
    std::chrono::milliseconds timeout;
    if (r.timeout) {
      timeout = *r.timeout;
    } else {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      std::uniform_real_distribution<double> factor(1.0, 2.0);
      timeout = std::chrono::milliseconds(static_cast<int64_t>(
          std::chrono::duration<double, std::milli>(options.min_request_timeout).count() *
          factor(rng)));
    }
    w->timer().emplace(strand);
    w->timer()->expires_after(timeout);
    w->timer()->async_wait([self = shared_from_this(),
                            weak = std::weak_ptr<Watcher>(w)](boost::system::error_code ec) {
      if (ec) return;
      if (auto w = weak.lock()) {
        w->End();
        self->Forget(w);
      }
    });
  }

  void Stop() {
    stopped = true;
    for (auto& w : watchers) {
      if (w->timer()) w->timer()->cancel();
      w->End();
    }
    watchers.clear();
    last.reset();
    current.reset();
  }
};

WatchHub::WatchHub(asio::io_context& io, window::Publication& publication,
                   const kube::NodeCache& nodes, const kube::PodCache& pods,
                   const base::Clock& clock, WatchOptions options)
    : state_(std::make_shared<State>(io, nodes, pods, clock, std::move(options), publication)) {
  std::weak_ptr<State> weak = state_;
  state_->subscription =
      publication.Subscribe([weak](const std::shared_ptr<const window::Window>& published) {
        if (auto s = weak.lock()) {
          asio::post(s->strand, [s, published] { s->OnWindow(published); });
        }
      });
}

WatchHub::~WatchHub() {
  state_->subscription.Reset();
  state_->stopped = true;
  asio::post(state_->strand, [s = state_] { s->Stop(); });
}

const WatchOptions& WatchHub::options() const { return state_->options; }

uint32_t WatchHub::watchers() const { return state_->count->load(); }

HttpResponse WatchHub::Watch(WatchRequest request) {
  State& s = *state_;
  if (s.count->fetch_add(1) >= s.options.max_watches) {
    s.count->fetch_sub(1);
    HttpResponse r = ErrorResponse(TooManyRequestsError(
        "too many watches open (--max-watches=" + std::to_string(s.options.max_watches) +
        "), please try again later"));
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  size_t version = 0;
  while (version + 1 < s.options.versions.size() &&
         s.options.versions[version] != request.version) {
    ++version;
  }
  std::string api_version = "metrics.k8s.io/" + request.version;
  const Format format = request.format;
  std::weak_ptr<State> weak = state_;
  auto watcher =
      std::make_shared<Watcher>(std::move(request), version, std::move(api_version), s.count,
                                s.options.max_queued_windows, [weak](std::shared_ptr<Watcher> w) {
                                  if (auto s = weak.lock())
                                    asio::post(s->strand, [s, w] { s->Forget(w); });
                                });
  asio::post(s.strand, [s = state_, watcher] { s->Start(watcher); });
  HttpResponse r;
  // As k8s.io/apiserver: JSON keeps its media type, other formats add ";stream=watch".
  r.content_type = format == Format::kProtobuf ? std::string(kProtobufContentType) + ";stream=watch"
                                               : std::string(kJsonContentType);
  r.stream = std::move(watcher);
  return r;
}

}  // namespace apiserver
