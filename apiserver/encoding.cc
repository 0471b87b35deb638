#include "apiserver/encoding.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "apiserver/wire_format.h"
#include "base/duration.h"

namespace apiserver {
namespace {

std::string_view ItemKindName(Kind kind) {
  return kind == Kind::kNode ? "NodeMetrics" : "PodMetrics";
}
std::string_view ListKindName(Kind kind) {
  return kind == Kind::kNode ? "NodeMetricsList" : "PodMetricsList";
}

// One object's usage map: cpu and memory always; ephemeral-storage and swap only where the
// kubelet reported them. Keys in the order Go writes a map (sorted), in JSON and protobuf alike.
struct Usage {
  uint64_t cpu_nanocores = 0;
  uint64_t memory_bytes = 0;
  bool has_swap = false;
  uint64_t swap_bytes = 0;
  bool has_ephemeral_storage = false;
  uint64_t ephemeral_storage_bytes = 0;
};

Usage UsageOf(const window::NodeMetrics& n) {
  return {n.cpu_nanocores, n.memory_bytes,          n.has_swap,
          n.swap_bytes,    n.has_ephemeral_storage, n.ephemeral_storage_bytes};
}
// The usage of pod.containers[k].
Usage UsageOf(const window::PodMetrics& pod, size_t k) {
  const window::ContainerMetrics& c = pod.containers[k];
  const window::ContainerExtras x = pod.extras_of(k);
  return {c.cpu_nanocores, c.memory_bytes,          x.has_swap,
          x.swap_bytes,    x.has_ephemeral_storage, x.ephemeral_storage_bytes};
}

// `"usage":{"cpu":"...",["ephemeral-storage":"...",]"memory":"..."[,"swap":"..."]}` without
// the key.
void AppendUsageJson(std::string& out, const Usage& u) {
  out.append("{\"cpu\":\"");
  AppendDecimalSI(out, static_cast<int64_t>(u.cpu_nanocores), -9);
  if (u.has_ephemeral_storage) {
    out.append("\",\"ephemeral-storage\":\"");
    AppendBinarySI(out, static_cast<int64_t>(u.ephemeral_storage_bytes));
  }
  out.append("\",\"memory\":\"");
  AppendBinarySI(out, static_cast<int64_t>(u.memory_bytes));
  if (u.has_swap) {
    out.append("\",\"swap\":\"");
    AppendBinarySI(out, static_cast<int64_t>(u.swap_bytes));
  }
  out.append("\"}");
}

void AppendTimeWindowJson(std::string& out, base::UnixNanos ts, std::chrono::nanoseconds window) {
  out.append("\"timestamp\":\"");
  AppendTime(out, ts);
  out.append("\",\"window\":");
  AppendJsonString(out, base::FormatDuration(window));
}

// Appends one map<string,Quantity> entry as repeated field `field`; `value` writes the quantity.
template <typename WriteQuantity>
void AppendUsageEntryProto(std::string& out, uint32_t field, std::string_view key,
                           WriteQuantity value) {
  const size_t entry = BeginField(out, field);
  AppendBytesField(out, 1, key);
  const size_t quantity = BeginField(out, 2);
  const size_t string = BeginField(out, 1);
  value(out);
  EndField(out, string);
  EndField(out, quantity);
  EndField(out, entry);
}

// Appends the usage map's entries (cpu, ephemeral-storage if reported, memory, swap if reported)
// as repeated field `field`.
void AppendUsageProto(std::string& out, uint32_t field, const Usage& u) {
  AppendUsageEntryProto(out, field, "cpu", [&](std::string& o) {
    AppendDecimalSI(o, static_cast<int64_t>(u.cpu_nanocores), -9);
  });
  if (u.has_ephemeral_storage) {
    AppendUsageEntryProto(out, field, "ephemeral-storage", [&](std::string& o) {
      AppendBinarySI(o, static_cast<int64_t>(u.ephemeral_storage_bytes));
    });
  }
  AppendUsageEntryProto(out, field, "memory", [&](std::string& o) {
    AppendBinarySI(o, static_cast<int64_t>(u.memory_bytes));
  });
  if (u.has_swap) {
    AppendUsageEntryProto(out, field, "swap", [&](std::string& o) {
      AppendBinarySI(o, static_cast<int64_t>(u.swap_bytes));
    });
  }
}

void AppendTimeProto(std::string& out, uint32_t field, base::UnixNanos t) {
  const size_t msg = BeginField(out, field);
  AppendVarintField(out, 1, static_cast<uint64_t>(UnixSeconds(t)));
  AppendVarintField(out, 2, 0);
  EndField(out, msg);
}

void AppendDurationProto(std::string& out, uint32_t field, std::chrono::nanoseconds d) {
  const size_t msg = BeginField(out, field);
  AppendVarintField(out, 1, static_cast<uint64_t>(d.count()));
  EndField(out, msg);
}

// Encodes into `j` and `p` (cleared first), which the caller copies into its storage; a null one
// is left out.
void EncodeNode(const window::NodeMetrics& n, std::string* j, std::string* p) {
  if (j != nullptr) {
    j->clear();
    AppendTimeWindowJson(*j, n.timestamp, n.window);
    j->append(",\"usage\":");
    AppendUsageJson(*j, UsageOf(n));
    j->push_back('}');
  }
  if (p != nullptr) {
    p->clear();
    AppendTimeProto(*p, 2, n.timestamp);
    AppendDurationProto(*p, 3, n.window);
    AppendUsageProto(*p, 4, UsageOf(n));
  }
}

void EncodePod(const window::PodMetrics& pod, std::string* j, std::string* p) {
  if (j != nullptr) {
    j->clear();
    AppendTimeWindowJson(*j, pod.timestamp, pod.window);
    j->append(",\"containers\":[");
    for (size_t k = 0; k < pod.containers.size(); ++k) {
      if (k != 0) j->push_back(',');
      j->append("{\"name\":");
      AppendJsonString(*j, pod.containers[k].name);
      j->append(",\"usage\":");
      AppendUsageJson(*j, UsageOf(pod, k));
      j->push_back('}');
    }
    j->append("]}");
  }
  if (p != nullptr) {
    p->clear();
    AppendTimeProto(*p, 2, pod.timestamp);
    AppendDurationProto(*p, 3, pod.window);
    for (size_t k = 0; k < pod.containers.size(); ++k) {
      const size_t container = BeginField(*p, 4);
      AppendBytesField(*p, 1, pod.containers[k].name);
      AppendUsageProto(*p, 2, UsageOf(pod, k));
      EndField(*p, container);
    }
  }
}

// Counts the bytes the JSON writers below would append, in place of a std::string: the
// size of a list is known before it is written (its Content-Length) from the same code that
// writes it.
struct ByteCounter {
  size_t size = 0;
  void append(std::string_view s) { size += s.size(); }
  void push_back(char) { ++size; }
};
void AppendJsonString(ByteCounter& out, std::string_view s) { out.size += JsonStringSize(s); }

// Writes the same bytes at `p`, into room already made for them (the size ByteCounter gave):
// a list's items are written without a capacity check per append.
struct RawWriter {
  char* p;
  void append(std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  void push_back(char c) { *p++ = c; }
};
void AppendJsonString(RawWriter& out, std::string_view s) {
  std::string escaped;  // rare: names and labels are plain text (ItemMeta::plain)
  apiserver::AppendJsonString(escaped, s);
  out.append(escaped);
}
using apiserver::AppendJsonString;  // the std::string one, otherwise hidden by the two above

// A name, namespace or label as a JSON string: copied between quotes when the item's strings
// are known to need no escaping (ItemMeta::plain), without looking at each byte.
template <typename Out>
void AppendMetaString(Out& out, std::string_view s, bool plain) {
  if (!plain) return AppendJsonString(out, s);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

// `"metadata":{...}` for an item (no leading comma).
// With `creation_at`, sets it to the offset in `out` where `creation` is written.
template <typename Out>
void AppendMetaJson(Out& out, const ItemMeta& meta, std::string_view creation,
                    size_t* creation_at = nullptr) {
  out.append("\"metadata\":{\"name\":");
  AppendMetaString(out, meta.name, meta.plain);
  if (!meta.namespace_.empty()) {
    out.append(",\"namespace\":");
    AppendMetaString(out, meta.namespace_, meta.plain);
  }
  if (!meta.resource_version.empty()) {
    out.append(",\"resourceVersion\":");
    AppendJsonString(out, meta.resource_version);
  }
  out.append(",\"creationTimestamp\":\"");
  if constexpr (std::is_same_v<Out, std::string>) {
    if (creation_at != nullptr) *creation_at = out.size();
  }
  out.append(creation);
  out.push_back('"');
  if (meta.labels != nullptr && !meta.labels->empty()) {
    out.append(",\"labels\":{");
    bool first = true;
    for (const auto& [k, v] : *meta.labels) {
      if (!first) out.push_back(',');
      first = false;
      AppendMetaString(out, k, meta.plain);
      out.push_back(':');
      AppendMetaString(out, v, meta.plain);
    }
    out.push_back('}');
  }
  out.push_back('}');
}

template <typename Out>
void AppendItemJson(Out& out, const ListEntry& e, std::string_view creation, std::string_view kind,
                    std::string_view api_version) {
  out.push_back('{');
  if (!kind.empty()) {
    out.append("\"kind\":\"");
    out.append(kind);
    out.append("\",\"apiVersion\":\"");
    out.append(api_version);
    out.append("\",");
  }
  AppendMetaJson(out, e.meta, creation);
  out.push_back(',');
  out.append(e.item->json_tail());
}

size_t BytesFieldSize(size_t len) { return 1 + VarintSize(len) + len; }  // field numbers < 16

size_t LabelEntrySize(std::string_view k, std::string_view v) {
  return BytesFieldSize(k.size()) + BytesFieldSize(v.size());
}

// The size of an item's ObjectMeta message (name, namespace, resourceVersion,
// creationTimestamp, labels), without its field tag and length.
size_t MetaProtoSize(const ItemMeta& meta, size_t time_field_size) {
  size_t size = BytesFieldSize(meta.name.size()) + time_field_size;
  if (!meta.namespace_.empty()) size += BytesFieldSize(meta.namespace_.size());
  if (!meta.resource_version.empty()) size += BytesFieldSize(meta.resource_version.size());
  if (meta.labels != nullptr) {
    for (const auto& [k, v] : *meta.labels) size += BytesFieldSize(LabelEntrySize(k, v));
  }
  return size;
}

// Appends field 1 (ObjectMeta) of an item, whose message is `size` bytes (MetaProtoSize):
// name, namespace, creationTimestamp, labels. Written in place since this runs once per listed
// object.
// With `time_at`, sets it to the offset in `out` where `time_field` is written.
void AppendMetaProtoField(std::string& out, const ItemMeta& meta, std::string_view time_field,
                          size_t size, size_t* time_at = nullptr) {
  out.push_back(0x0a);
  AppendVarint(out, size);
  AppendBytesField(out, 1, meta.name);
  if (!meta.namespace_.empty()) AppendBytesField(out, 3, meta.namespace_);
  if (!meta.resource_version.empty()) AppendBytesField(out, 6, meta.resource_version);
  if (time_at != nullptr) *time_at = out.size();
  out.append(time_field);
  if (meta.labels != nullptr) {
    for (const auto& [k, v] : *meta.labels) {
      out.push_back(static_cast<char>((11 << 3) | 2));
      AppendVarint(out, LabelEntrySize(k, v));
      AppendBytesField(out, 1, k);
      AppendBytesField(out, 2, v);
    }
  }
}
void AppendMetaProtoField(std::string& out, const ItemMeta& meta, std::string_view time_field) {
  AppendMetaProtoField(out, meta, time_field, MetaProtoSize(meta, time_field.size()));
}

// The creationTimestamp field (8) of ObjectMeta.
std::string TimeField(base::UnixNanos now) {
  std::string t;
  AppendTimeProto(t, 8, now);
  return t;
}

// The NodeMetrics/PodMetrics message bytes.
std::string ItemProto(const ListEntry& e, base::UnixNanos now) {
  std::string out;
  AppendMetaProtoField(out, e.meta, TimeField(now));
  out.append(e.item->proto_tail());
  return out;
}

// Table helpers.
void AppendColumn(std::string& out, std::string_view name, std::string_view format,
                  std::string_view description) {
  out.append("{\"name\":\"");
  out.append(name);
  out.append("\",\"type\":\"string\",\"format\":\"");
  out.append(format);
  out.append("\",\"description\":\"");
  out.append(description);
  out.append("\",\"priority\":0}");
}

}  // namespace

namespace {

// The blocks of every EncodedWindow. Never destroyed: windows may outlive any owner.
const std::shared_ptr<base::BlockPool>& EncodingBlocks() {
  static const auto* pool =
      new std::shared_ptr<base::BlockPool>(std::make_shared<base::BlockPool>());
  return *pool;
}

}  // namespace

std::shared_ptr<const EncodedWindow> EncodedWindowCache::Get(
    std::shared_ptr<const window::Window> window) const {
  return Encode(std::move(window), true, {});
}

std::shared_ptr<const EncodedWindow> EncodedWindowCache::Encode(
    std::shared_ptr<const window::Window> window, bool use, EncodedWindow::Heads heads) const {
  {
    base::MutexLock lock(mu_);
    if (use) used_ = true;
    if (last_ != nullptr && &last_->window() == window.get()) return last_;
  }
  base::MutexLock encoding(encode_mu_);
  {
    base::MutexLock lock(mu_);
    if (last_ != nullptr && &last_->window() == window.get()) return last_;
  }
  auto encoded = std::make_shared<const EncodedWindow>(std::move(window), heads);
  std::shared_ptr<const EncodedWindow> replaced;  // freed after the lock (300,000 pods: ~50 ms)
  {
    base::MutexLock lock(mu_);
    if (last_ == nullptr || encoded->window().generation() >= last_->window().generation()) {
      replaced = std::exchange(last_, encoded);
    }
  }
  return encoded;
}

std::shared_ptr<const EncodedWindow> EncodedWindowCache::Ready(
    const std::shared_ptr<const window::Window>& window) const {
  base::MutexLock lock(mu_);
  if (last_ != nullptr &&
      (&last_->window() == window.get() || (announced_ >= window->generation() &&
                                            last_->window().generation() < window->generation()))) {
    return last_;
  }
  return nullptr;
}

void EncodedWindowCache::Announce(uint64_t generation) const {
  base::MutexLock lock(mu_);
  announced_ = std::max(announced_, generation);
}

void EncodedWindowCache::NoteUse() const {
  base::MutexLock lock(mu_);
  used_ = true;
}

void EncodedWindowCache::NoteList(Format format) const {
  base::MutexLock lock(mu_);
  (format == Format::kProtobuf ? proto_lists_ : json_lists_) = true;
}

bool EncodedWindowCache::used() const {
  base::MutexLock lock(mu_);
  return used_;
}

void EncodedWindowCache::DropOlderThan(uint64_t generation) const {
  std::shared_ptr<const EncodedWindow> dropped;  // freed after the lock
  {
    base::MutexLock lock(mu_);
    if (last_ == nullptr || last_->window().generation() >= generation) return;
    dropped = std::move(last_);
  }
  // The blocks of the dropped encodings (now, or when the last response holding them ends) go
  // back to the system instead of waiting as spares; the next encoding sets the limit again.
  EncodingBlocks()->SetSpareLimit(0);
}

window::Publication::Subscription EncodedWindowCache::EncodeWhileUsed(
    window::Publication& windows, std::function<void(std::function<void()>)> run,
    std::function<void()> after) const {
  return windows.Subscribe([this, run = std::move(run), after = std::move(after)](
                               const std::shared_ptr<const window::Window>& published) {
    bool was_used;
    EncodedWindow::Heads heads;
    {
      base::MutexLock lock(mu_);
      was_used = std::exchange(used_, false);
      heads.pods = pods_;
      heads.json = std::exchange(json_lists_, false);
      heads.protobuf = std::exchange(proto_lists_, false);
    }
    if (!was_used) {
      run([this, generation = published->generation(), after] {
        DropOlderThan(generation);
        if (after) after();
      });
      return;
    }
    Announce(published->generation());
    run([this, published, after, heads] {
      Encode(published, false, heads);
      if (after) after();
    });
  });
}

const base::BlockPool& EncodedWindow::Blocks() { return *EncodingBlocks(); }

EncodedWindow::EncodedWindow(std::shared_ptr<const window::Window> window, Heads heads)
    : window_(std::move(window)), pool_(EncodingBlocks()) {
  // Each item is written into scratch buffers, then copied once, at its exact size, into the
  // blocks: no reallocation while appending, no spare capacity kept for the window's lifetime.
  std::string j, p;
  nodes_.reserve(window_->nodes().size());
  for (const auto& n : window_->nodes()) {
    EncodeNode(n, &j, &p);
    nodes_.push_back(Store({}, j, {}, p));
  }
  // The pods' heads, from the cached pods of the same namespace and name (both sorted).
  const bool any_heads = heads.pods != nullptr && (heads.json || heads.protobuf);
  const std::vector<std::shared_ptr<const kube::Pod>> cached =
      any_heads ? heads.pods->List("") : std::vector<std::shared_ptr<const kube::Pod>>{};
  auto cached_pod = cached.begin();
  // The placeholder time is any whose encodings have the sizes lists check for.
  const base::UnixNanos placeholder = 1'700'000'000LL * 1'000'000'000LL;
  const std::string json_time = FormatTime(placeholder);
  const std::string proto_time = TimeField(placeholder);
  assert(json_time.size() == kHeadJsonTimeSize && proto_time.size() == kHeadProtoTimeSize);
  std::string jh, ph;
  pods_.reserve(window_->pods().size());
  for (const auto& pod : window_->pods()) {
    EncodePod(pod, &j, &p);
    while (cached_pod != cached.end() && ComparePodKeys(pod, **cached_pod) > 0) ++cached_pod;
    if (cached_pod == cached.end() || ComparePodKeys(pod, **cached_pod) != 0 ||
        (*cached_pod)->revision == 0) {
      pods_.push_back(Store({}, j, {}, p));
      continue;
    }
    const kube::Pod& from = **cached_pod++;
    // As ListEncoder writes an item's metadata.
    const ItemMeta meta{from.name, from.namespace_, &from.labels, {}, from.plain, from.revision};
    size_t json_at = 0;
    size_t proto_at = 0;
    jh.clear();
    ph.clear();
    if (heads.json) {
      jh.push_back('{');
      AppendMetaJson(jh, meta, json_time, &json_at);
      jh.push_back(',');
    }
    if (heads.protobuf) {
      const size_t meta_size = MetaProtoSize(meta, proto_time.size());
      ph.push_back(0x12);  // PodMetricsList.items, then the item's length
      AppendVarint(ph, BytesFieldSize(meta_size) + p.size());
      AppendMetaProtoField(ph, meta, proto_time, meta_size, &proto_at);
    }
    if (jh.size() > std::numeric_limits<uint16_t>::max() ||
        ph.size() > std::numeric_limits<uint16_t>::max()) {
      pods_.push_back(Store({}, j, {}, p));  // a pod with labels beyond 64 KiB: no heads
      continue;
    }
    Item item = Store(jh, j, ph, p);
    item.revision = from.revision;
    item.json_time = static_cast<uint16_t>(json_at);
    item.proto_time = static_cast<uint16_t>(proto_at);
    pods_.push_back(item);
  }
  // Spares for the next window: as many blocks as this one took (the window before gives its
  // back when it is released).
  pool_->SetSpareLimit(blocks_.size());
}

EncodedWindow::~EncodedWindow() {
  for (char* block : blocks_) pool_->Give(block);
}

EncodedWindow::Item EncodedWindow::Store(std::string_view json_head, std::string_view json,
                                         std::string_view proto_head, std::string_view proto) {
  const size_t need = json_head.size() + json.size() + proto_head.size() + proto.size();
  char* at;
  if (need > pool_->block_bytes()) {
    at = large_blocks_.emplace_back(std::make_unique_for_overwrite<char[]>(need)).get();
  } else {
    if (block_ == nullptr || pool_->block_bytes() - block_used_ < need) {
      block_ = blocks_.emplace_back(pool_->Take());
      block_used_ = 0;
    }
    at = block_ + block_used_;
    block_used_ += need;
  }
  char* to = at;
  for (std::string_view part : {json_head, json, proto_head, proto}) {
    std::copy(part.begin(), part.end(), to);
    to += part.size();
  }
  Item item{at, static_cast<uint32_t>(json.size()), static_cast<uint32_t>(proto.size())};
  item.json_head = static_cast<uint16_t>(json_head.size());
  item.proto_head = static_cast<uint16_t>(proto_head.size());
  return item;
}

EncodedItems::EncodedItems(std::span<ListEntry> entries, Format format) {
  // Encoded into one string first, then copied to an exact allocation the items point into.
  std::string all, j, p;
  std::string* json = format == Format::kProtobuf ? nullptr : &j;
  std::string* proto = format == Format::kProtobuf ? &p : nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> sizes;
  sizes.reserve(entries.size());
  for (const ListEntry& e : entries) {
    if (e.node != nullptr) {
      EncodeNode(*e.node, json, proto);
    } else {
      EncodePod(*e.pod, json, proto);
    }
    all.append(j);
    all.append(p);
    sizes.emplace_back(static_cast<uint32_t>(j.size()), static_cast<uint32_t>(p.size()));
  }
  bytes_size_ = all.size();
  bytes_ = std::make_unique_for_overwrite<char[]>(all.size());
  std::copy(all.begin(), all.end(), bytes_.get());
  items_.reserve(entries.size());
  const char* at = bytes_.get();
  for (size_t i = 0; i < entries.size(); ++i) {
    items_.push_back({at, sizes[i].first, sizes[i].second});
    at += sizes[i].first + sizes[i].second;
    entries[i].item = &items_.back();
  }
}

std::string EncodeObject(Format format, Kind kind, std::string_view api_version,
                         const ListEntry& entry, base::UnixNanos now) {
  if (format == Format::kProtobuf) {
    return WrapProtobuf(api_version, ItemKindName(kind), ItemProto(entry, now));
  }
  std::string out;
  AppendItemJson(out, entry, FormatTime(now), ItemKindName(kind), api_version);
  out.push_back('\n');
  return out;
}

std::string EncodeList(Format format, Kind kind, std::string_view api_version,
                       const std::vector<ListEntry>& entries, base::UnixNanos now,
                       std::string_view resource_version) {
  ListEncoder encoder(format, kind, api_version, entries, now, resource_version);
  std::string out;
  out.reserve(encoder.size());
  encoder.Next(out, std::numeric_limits<size_t>::max());
  return out;
}

ListEncoder::ListEncoder(Format format, Kind kind, std::string_view api_version,
                         std::span<const ListEntry> entries, base::UnixNanos now,
                         std::string_view resource_version)
    : proto_(format == Format::kProtobuf), entries_(entries) {
  if (proto_) {
    creation_ = TimeField(now);
    heads_ = creation_.size() == EncodedWindow::kHeadProtoTimeSize;
    std::string list_meta;  // ListMeta: resourceVersion is field 2
    if (!resource_version.empty()) AppendBytesField(list_meta, 2, resource_version);
    // The envelope needs the raw length up front: size every item first.
    sizes_.reserve(entries_.size());
    size_t items = 0;
    for (const auto& e : entries_) {
      if (UsesHead(e)) {
        sizes_.push_back(0);
        items += e.item->proto_item().size();
        continue;
      }
      const size_t meta = MetaProtoSize(e.meta, creation_.size());
      sizes_.push_back(static_cast<uint32_t>(meta));
      items += BytesFieldSize(BytesFieldSize(meta) + e.item->proto_tail().size());
    }
    std::string type_meta;
    AppendBytesField(type_meta, 1, api_version);
    AppendBytesField(type_meta, 2, ListKindName(kind));
    head_.append(kProtobufMagic);
    AppendBytesField(head_, 1, type_meta);
    head_.push_back(0x12);
    AppendVarint(head_, BytesFieldSize(list_meta.size()) + items);
    AppendBytesField(head_, 1, list_meta);
    AppendBytesField(tail_, 3, "");
    AppendBytesField(tail_, 4, "");
    size_ = head_.size() + items + tail_.size();
    return;
  }
  creation_ = FormatTime(now);
  heads_ = creation_.size() == EncodedWindow::kHeadJsonTimeSize;
  head_.append("{\"kind\":\"");
  head_.append(ListKindName(kind));
  head_.append("\",\"apiVersion\":\"");
  head_.append(api_version);
  if (resource_version.empty()) {
    head_.append("\",\"metadata\":{},\"items\":[");
  } else {
    head_.append("\",\"metadata\":{\"resourceVersion\":");
    AppendJsonString(head_, resource_version);
    head_.append("},\"items\":[");
  }
  tail_ = "]}\n";
  sizes_.reserve(entries_.size());
  size_t items = 0;
  for (const auto& e : entries_) {
    if (UsesHead(e)) {
      sizes_.push_back(static_cast<uint32_t>(e.item->json_item().size()));
      items += sizes_.back();
      continue;
    }
    ByteCounter item;
    AppendItemJson(item, e, creation_, {}, {});
    sizes_.push_back(static_cast<uint32_t>(item.size));
    items += item.size;
  }
  size_ = head_.size() + items + (entries_.empty() ? 0 : entries_.size() - 1) + tail_.size();
}

bool ListEncoder::Next(std::string& out, size_t bytes) {
  if (state_ == State::kHead) {
    out.append(head_);
    state_ = State::kItems;
  }
  if (state_ == State::kItems) {
    if (proto_) {
      for (; next_ < entries_.size() && out.size() < bytes; ++next_) {
        const ListEntry& e = entries_[next_];
        if (UsesHead(e)) {
          const size_t at = out.size();
          out.append(e.item->proto_item());
          std::memcpy(out.data() + at + e.item->proto_time, creation_.data(), creation_.size());
          continue;
        }
        const size_t meta = sizes_[next_];
        out.push_back(0x12);
        AppendVarint(out, BytesFieldSize(meta) + e.item->proto_tail().size());
        AppendMetaProtoField(out, e.meta, creation_, meta);
        out.append(e.item->proto_tail());
      }
    } else {
      // The items that fit, sized first (each item's size is known), then written in place.
      size_t end = next_;
      size_t add = 0;
      for (; end < entries_.size() && out.size() + add < bytes; ++end) {
        add += sizes_[end] + (end != 0 ? 1 : 0);
      }
      const size_t at = out.size();
      out.resize(at + add);
      RawWriter w{out.data() + at};
      for (; next_ < end; ++next_) {
        if (next_ != 0) w.push_back(',');
        const ListEntry& e = entries_[next_];
        if (UsesHead(e)) {
          const std::string_view item = e.item->json_item();
          std::memcpy(w.p, item.data(), item.size());
          std::memcpy(w.p + e.item->json_time, creation_.data(), creation_.size());
          w.p += item.size();
          continue;
        }
        AppendItemJson(w, e, creation_, {}, {});
      }
      assert(w.p == out.data() + out.size());  // the sizes and the writer are the same code
    }
    if (next_ < entries_.size()) return false;
    out.append(tail_);
    state_ = State::kDone;
  }
  return true;
}

namespace {

// `"columnDefinitions":[...]`: Name, cpu, memory and Window, as metrics-server's Table has.
const std::string& ColumnDefinitions() {
  static const std::string columns = [] {
    std::string out = "\"columnDefinitions\":[";
    AppendColumn(out, "Name", "name", "Name of the resource");
    out.push_back(',');
    AppendColumn(out, "cpu", "quantity", "");
    out.push_back(',');
    AppendColumn(out, "memory", "quantity", "");
    out.push_back(',');
    AppendColumn(out, "Window", "duration", "");
    out.push_back(']');
    return out;
  }();
  return columns;
}

// `{"kind":"Table","apiVersion":"meta.k8s.io/<v>","metadata":{...},` up to the column definitions.
void AppendTableHead(std::string& out, std::string_view table_version,
                     std::string_view resource_version) {
  out.append("{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/");
  out.append(table_version);
  if (resource_version.empty()) {
    out.append("\",\"metadata\":{},");
  } else {
    out.append("\",\"metadata\":{\"resourceVersion\":");
    AppendJsonString(out, resource_version);
    out.append("},");
  }
}

// One row: the cells, then the object as `include_object` asks.
void AppendTableRow(std::string& out, Kind kind, std::string_view api_version,
                    std::string_view table_version, std::string_view include_object,
                    const ListEntry& e, std::string_view creation) {
  uint64_t cpu = 0, memory = 0;
  std::chrono::nanoseconds window{0};
  if (e.node != nullptr) {
    cpu = e.node->cpu_nanocores;
    memory = e.node->memory_bytes;
    window = e.node->window;
  } else {
    for (const auto& c : e.pod->containers) {
      cpu += c.cpu_nanocores;
      memory += c.memory_bytes;
    }
    window = e.pod->window;
  }
  out.append("{\"cells\":[");
  AppendJsonString(out, e.meta.name);
  out.append(",\"");
  AppendDecimalSI(out, static_cast<int64_t>(cpu), -9);
  out.append("\",\"");
  AppendBinarySI(out, static_cast<int64_t>(memory));
  out.append("\",");
  AppendJsonString(out, base::FormatDuration(window));
  out.push_back(']');
  if (include_object == "Object") {
    out.append(",\"object\":");
    AppendItemJson(out, e, creation, ItemKindName(kind), api_version);
  } else if (include_object != "None") {
    out.append(",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/");
    out.append(table_version);
    out.append("\",");
    AppendMetaJson(out, e.meta, creation);
    out.push_back('}');
  }
  out.push_back('}');
}

}  // namespace

std::string EncodeTable(Kind kind, std::string_view api_version, std::string_view table_version,
                        std::string_view include_object, const std::vector<ListEntry>& entries,
                        base::UnixNanos now, std::string_view resource_version) {
  const std::string creation = FormatTime(now);
  std::string out;
  AppendTableHead(out, table_version, resource_version);
  if (entries.empty()) {
    out.append("\"columnDefinitions\":[]");
  } else {
    out.append(ColumnDefinitions());
  }
  out.append(",\"rows\":[");
  bool first = true;
  for (const auto& e : entries) {
    if (!first) out.push_back(',');
    first = false;
    AppendTableRow(out, kind, api_version, table_version, include_object, e, creation);
  }
  out.append("]}\n");
  return out;
}

void AppendTableWatchEventJson(std::string& out, std::string_view type, Kind kind,
                               std::string_view api_version, std::string_view table_version,
                               std::string_view include_object, const ListEntry& entry,
                               std::string_view creation) {
  out.append("{\"type\":\"");
  out.append(type);
  out.append("\",\"object\":");
  AppendTableHead(out, table_version, entry.meta.resource_version);
  out.append(kTableWatchNoColumns);
  out.append(",\"rows\":[");
  AppendTableRow(out, kind, api_version, table_version, include_object, entry, creation);
  out.append("]}}\n");
}

std::string_view TableColumnDefinitionsJson() { return ColumnDefinitions(); }

namespace {

void AppendGroup(std::string& out, const std::vector<std::string>& versions) {
  out.append("\"name\":\"metrics.k8s.io\",\"versions\":[");
  for (size_t i = 0; i < versions.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"groupVersion\":\"metrics.k8s.io/" + versions[i] + "\",\"version\":\"" +
               versions[i] + "\"}");
  }
  out.append("],\"preferredVersion\":{\"groupVersion\":\"metrics.k8s.io/" + versions.front() +
             "\",\"version\":\"" + versions.front() + "\"}");
}

}  // namespace

std::string EncodeApiGroupList(const std::vector<std::string>& versions) {
  std::string out = "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{";
  AppendGroup(out, versions);
  out.append("}]}\n");
  return out;
}

std::string EncodeApiGroup(const std::vector<std::string>& versions) {
  std::string out = "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",";
  AppendGroup(out, versions);
  out.append("}\n");
  return out;
}

std::string EncodeApiResourceList(std::string_view version, bool watch) {
  const std::string_view verbs = watch ? R"(["get","list","watch"])" : R"(["get","list"])";
  std::string out =
      "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"metrics.k8s.io/";
  out.append(version);
  out.append(
      "\",\"resources\":[{\"name\":\"nodes\",\"singularName\":\"\",\"namespaced\":false,"
      "\"kind\":\"NodeMetrics\",\"verbs\":");
  out.append(verbs);
  out.append(
      "},{\"name\":\"pods\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodMetrics\","
      "\"verbs\":");
  out.append(verbs);
  out.append("}]}\n");
  return out;
}

void AppendWatchEventJson(std::string& out, std::string_view type, Kind kind,
                          std::string_view api_version, const ListEntry& entry,
                          std::string_view creation) {
  out.append("{\"type\":\"");
  out.append(type);
  out.append("\",\"object\":");
  AppendItemJson(out, entry, creation, ItemKindName(kind), api_version);
  out.append("}\n");
}

std::string EncodeBookmarkJson(Kind kind, std::string_view api_version,
                               std::string_view resource_version, bool initial_events_end) {
  std::string out = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"";
  out.append(ItemKindName(kind));
  out.append("\",\"apiVersion\":\"");
  out.append(api_version);
  out.append("\",\"metadata\":{\"resourceVersion\":");
  AppendJsonString(out, resource_version);
  out.append(",\"creationTimestamp\":null");
  if (initial_events_end) out.append(",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}");
  out.append("},\"timestamp\":null,\"window\":\"0s\",");
  out.append(kind == Kind::kNode ? "\"usage\":null" : "\"containers\":null");
  out.append("}}\n");
  return out;
}

namespace {

void AppendWatchFrame(std::string& out, std::string_view type, std::string_view raw_object) {
  std::string raw_extension;
  AppendBytesField(raw_extension, 1, raw_object);
  std::string event;
  event.reserve(type.size() + raw_extension.size() + 16);
  AppendBytesField(event, 1, type);
  AppendBytesField(event, 2, raw_extension);
  const uint32_t n = static_cast<uint32_t>(event.size());
  const char length[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(length, 4);
  out.append(event);
}

}  // namespace

void AppendWatchEventProto(std::string& out, std::string_view type, Kind kind,
                           std::string_view api_version, const ListEntry& entry,
                           base::UnixNanos now) {
  AppendWatchFrame(out, type, EncodeObject(Format::kProtobuf, kind, api_version, entry, now));
}

std::string EncodeBookmarkProto(Kind kind, std::string_view api_version,
                                std::string_view resource_version, bool initial_events_end) {
  std::string raw;
  const size_t meta = BeginField(raw, 1);
  AppendBytesField(raw, 6, resource_version);
  if (initial_events_end) {
    const size_t entry = BeginField(raw, 12);  // annotations
    AppendBytesField(raw, 1, "k8s.io/initial-events-end");
    AppendBytesField(raw, 2, "true");
    EndField(raw, entry);
  }
  EndField(raw, meta);
  // The zero metav1.Time (0001-01-01T00:00:00Z) and metav1.Duration.
  const size_t timestamp = BeginField(raw, 2);
  AppendVarintField(raw, 1, static_cast<uint64_t>(int64_t{-62135596800}));
  AppendVarintField(raw, 2, 0);
  EndField(raw, timestamp);
  const size_t window = BeginField(raw, 3);
  AppendVarintField(raw, 1, 0);
  EndField(raw, window);
  std::string out;
  AppendWatchFrame(out, "BOOKMARK", WrapProtobuf(api_version, ItemKindName(kind), raw));
  return out;
}

std::string EncodeErrorEventProto(std::string_view status_protobuf) {
  std::string out;
  AppendWatchFrame(out, "ERROR", status_protobuf);
  return out;
}

std::string EncodeErrorEventJson(std::string_view status_json) {
  while (!status_json.empty() && status_json.back() == '\n') status_json.remove_suffix(1);
  std::string out = "{\"type\":\"ERROR\",\"object\":";
  out.append(status_json);
  out.append("}\n");
  return out;
}

}  // namespace apiserver
