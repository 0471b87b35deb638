#include "kube/decode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "kube/json_fields.h"

namespace kube {
namespace {

using nlohmann::json;

// Copies string entries of a JSON object; other kinds of values are ignored.
void CopyStringMap(const json* obj, std::map<std::string, std::string>* out,
                   std::string_view only_prefix = {}) {
  if (!obj || !obj->is_object()) return;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (!it.value().is_string()) continue;
    if (!only_prefix.empty() && it.key().compare(0, only_prefix.size(), only_prefix) != 0) continue;
    out->emplace(it.key(), it.value().get_ref<const std::string&>());
  }
}

// The string members of `obj` (others are skipped) into `out`, sized once.
void CopyLabels(const json* obj, Labels* out) {
  if (!obj || !obj->is_object()) return;
  size_t count = 0;
  size_t bytes = 0;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (!it.value().is_string()) continue;
    ++count;
    bytes += it.key().size() + it.value().get_ref<const std::string&>().size();
  }
  Labels::Builder builder;
  builder.Reserve(count, bytes);
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (it.value().is_string()) builder.Set(it.key(), it.value().get_ref<const std::string&>());
  }
  *out = builder.Build();
}

// A resource.Quantity string field of `obj` (cpu in millicores with milli); 0 when absent or
// unparsable.
int64_t QuantityField(const json* obj, const char* key, bool milli) {
  if (obj == nullptr || !obj->is_object()) return 0;
  std::string text = StringField(*obj, key);
  if (text.empty()) return 0;
  auto q = ParseQuantity(text, milli);
  return q.ok() ? *q : 0;
}

// As QuantityField, and a negative quantity (meaningless for requests, limits and capacity)
// counts as unset.
int64_t NonNegativeQuantityField(const json* obj, const char* key, bool milli) {
  return std::max<int64_t>(0, QuantityField(obj, key, milli));
}

// Keeps only the annotations this server reads.
constexpr std::string_view kMetricsAnnotationPrefix = "metrics.k8s.io/";

base::Result<Node> NodeFromJson(const json& j) {
  if (!j.is_object()) return base::MakeError("node: not an object");
  const json* meta = Field(j, "metadata");
  if (!meta || !meta->is_object()) return base::MakeError("node: no metadata");
  Node n;
  n.name = StringField(*meta, "name");
  if (n.name.empty()) return base::MakeError("node: no metadata.name");
  CopyLabels(Field(*meta, "labels"), &n.labels);
  CopyStringMap(Field(*meta, "annotations"), &n.annotations, kMetricsAnnotationPrefix);
  const json* status = Field(j, "status");
  if (status) {
    if (const json* addrs = Field(*status, "addresses"); addrs && addrs->is_array()) {
      for (const json& a : *addrs) {
        NodeAddress na{StringField(a, "type"), StringField(a, "address")};
        if (!na.address.empty()) n.addresses.push_back(std::move(na));
      }
    }
    if (const json* de = Field(*status, "daemonEndpoints")) {
      if (const json* ke = Field(*de, "kubeletEndpoint")) {
        if (const json* port = Field(*ke, "Port"); port && port->is_number_integer()) {
          int64_t p = port->get<int64_t>();
          if (p > 0 && p <= 65535) n.kubelet_port = static_cast<int32_t>(p);
        }
      }
    }
    n.allocatable_cpu_millicores = NonNegativeQuantityField(Field(*status, "allocatable"), "cpu", true);
    n.allocatable_memory_bytes = NonNegativeQuantityField(Field(*status, "allocatable"), "memory", false);
    n.capacity_cpu_millicores = NonNegativeQuantityField(Field(*status, "capacity"), "cpu", true);
    n.capacity_memory_bytes = NonNegativeQuantityField(Field(*status, "capacity"), "memory", false);
  }
  return n;
}

base::Result<PodResources> PodResourcesFromJson(const json& j) {
  if (!j.is_object()) return base::MakeError("pod: not an object");
  const json* meta = Field(j, "metadata");
  if (!meta || !meta->is_object()) return base::MakeError("pod: no metadata");
  PodResources p;
  p.name = StringField(*meta, "name");
  p.namespace_ = StringField(*meta, "namespace");
  if (p.name.empty() || p.namespace_.empty()) {
    return base::MakeError("pod: no metadata.name or metadata.namespace");
  }
  const json* spec = Field(j, "spec");
  if (spec == nullptr || !spec->is_object()) return p;
  p.node_name = StringField(*spec, "nodeName");
  const json* containers = Field(*spec, "containers");
  if (containers == nullptr || !containers->is_array()) return p;
  p.containers.reserve(containers->size());
  for (const json& c : *containers) {
    ContainerResources r;
    r.name = StringField(c, "name");
    if (r.name.empty()) continue;
    if (const json* resources = Field(c, "resources")) {
      const json* requests = Field(*resources, "requests");
      const json* limits = Field(*resources, "limits");
      r.cpu_request_millicores = NonNegativeQuantityField(requests, "cpu", true);
      r.cpu_limit_millicores = NonNegativeQuantityField(limits, "cpu", true);
      r.memory_request_bytes = NonNegativeQuantityField(requests, "memory", false);
      r.memory_limit_bytes = NonNegativeQuantityField(limits, "memory", false);
    }
    p.containers.push_back(std::move(r));
  }
  std::sort(
      p.containers.begin(), p.containers.end(),
      [](const ContainerResources& a, const ContainerResources& b) { return a.name < b.name; });
  return p;
}

base::Result<Pod> PodFromJson(const json& j) {
  if (!j.is_object()) return base::MakeError("pod: not an object");
  const json* meta = Field(j, "metadata");
  if (!meta || !meta->is_object()) return base::MakeError("pod: no metadata");
  Pod p;
  p.name = StringField(*meta, "name");
  p.namespace_ = StringField(*meta, "namespace");
  if (p.name.empty() || p.namespace_.empty()) {
    return base::MakeError("pod: no metadata.name or metadata.namespace");
  }
  CopyLabels(Field(*meta, "labels"), &p.labels);
  return p;
}

base::Result<std::string> RawFromJson(const json& j) {
  if (!j.is_object()) return base::MakeError("object: not an object");
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
base::Result<ListPage<T>> DecodeList(std::string_view text,
                                     base::Result<T> (*decode)(const json&)) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return base::MakeError("list: " + parsed.error());
  const json& j = *parsed;
  if (!j.is_object()) return base::MakeError("list: not an object");
  ListPage<T> page;
  if (const json* meta = Field(j, "metadata")) {
    page.resource_version = StringField(*meta, "resourceVersion");
    page.continue_token = StringField(*meta, "continue");
  }
  const json* items = Field(j, "items");
  if (items && !items->is_null()) {
    if (!items->is_array()) return base::MakeError("list: items is not an array");
    page.items.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
      auto item = decode((*items)[i]);
      if (!item.ok())
        return base::MakeError("list: items[" + std::to_string(i) + "]: " + item.error());
      page.items.push_back(std::move(item.value()));
    }
  }
  return page;
}

template <typename T>
base::Result<WatchEvent<T>> DecodeEvent(std::string_view line,
                                        base::Result<T> (*decode)(const json&)) {
  auto parsed = ParseJson(line);
  if (!parsed.ok()) return base::MakeError("watch event: " + parsed.error());
  const json& j = *parsed;
  std::string type = StringField(j, "type");
  const json* object = Field(j, "object");
  if (!object || !object->is_object()) return base::MakeError("watch event: no object");
  WatchEvent<T> ev;
  if (const json* meta = Field(*object, "metadata")) {
    ev.resource_version = StringField(*meta, "resourceVersion");
  }
  if (type == "ERROR") {
    ev.type = WatchEventType::kError;
    if (const json* code = Field(*object, "code"); code && code->is_number_integer()) {
      ev.error_code = code->get<int>();
    }
    ev.error_message = StringField(*object, "message");
    return ev;
  }
  if (type == "BOOKMARK") {
    ev.type = WatchEventType::kBookmark;
    if (ev.resource_version.empty())
      return base::MakeError("watch event: bookmark without resourceVersion");
    return ev;
  }
  if (type == "ADDED") {
    ev.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    ev.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    ev.type = WatchEventType::kDeleted;
  } else {
    return base::MakeError("watch event: unknown type \"" + type + "\"");
  }
  auto obj = decode(*object);
  if (!obj.ok()) return base::MakeError("watch event: " + obj.error());
  ev.object = std::move(obj.value());
  return ev;
}

}  // namespace

base::Result<Node> DecodeNode(std::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok()) return base::MakeError("node: " + j.error());
  return NodeFromJson(*j);
}

base::Result<Pod> DecodePodMetadata(std::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok()) return base::MakeError("pod: " + j.error());
  return PodFromJson(*j);
}

base::Result<ListPage<Node>> DecodeNodeList(std::string_view json_text) {
  return DecodeList<Node>(json_text, &NodeFromJson);
}
base::Result<ListPage<Pod>> DecodePodMetadataList(std::string_view json_text) {
  return DecodeList<Pod>(json_text, &PodFromJson);
}
base::Result<WatchEvent<Node>> DecodeNodeWatchEvent(std::string_view line) {
  return DecodeEvent<Node>(line, &NodeFromJson);
}
base::Result<WatchEvent<Pod>> DecodePodWatchEvent(std::string_view line) {
  return DecodeEvent<Pod>(line, &PodFromJson);
}
base::Result<PodResources> DecodePodResources(std::string_view json_text) {
  auto parsed = ParseJson(json_text);
  if (!parsed.ok()) return base::MakeError("pod: " + parsed.error());
  return PodResourcesFromJson(*parsed);
}
base::Result<ListPage<PodResources>> DecodePodResourcesList(std::string_view json_text) {
  return DecodeList<PodResources>(json_text, &PodResourcesFromJson);
}
base::Result<WatchEvent<PodResources>> DecodePodResourcesWatchEvent(std::string_view line) {
  return DecodeEvent<PodResources>(line, &PodResourcesFromJson);
}

base::Result<ListPage<std::string>> DecodeRawList(std::string_view json_text) {
  return DecodeList<std::string>(json_text, &RawFromJson);
}
base::Result<WatchEvent<std::string>> DecodeRawWatchEvent(std::string_view line) {
  return DecodeEvent<std::string>(line, &RawFromJson);
}

base::Result<int64_t> ParseQuantity(std::string_view text, bool milli) {
  auto bad = [&] { return base::MakeError("invalid quantity \"" + std::string(text) + "\""); };
  if (text.empty() || text.size() > 64) return bad();
  std::size_t i = 0;
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') {
    negative = text[i] == '-';
    ++i;
  }
  std::size_t digits_start = i;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  std::string_view number = text.substr(digits_start, i - digits_start);
  if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) {
    return bad();
  }
  std::string_view suffix = text.substr(i);
  long double scale = 1;
  if (suffix.empty()) {
  } else if (suffix == "Ki") {
    scale = 1024.0L;
  } else if (suffix == "Mi") {
    scale = std::pow(1024.0L, 2);
  } else if (suffix == "Gi") {
    scale = std::pow(1024.0L, 3);
  } else if (suffix == "Ti") {
    scale = std::pow(1024.0L, 4);
  } else if (suffix == "Pi") {
    scale = std::pow(1024.0L, 5);
  } else if (suffix == "Ei") {
    scale = std::pow(1024.0L, 6);
  } else if (suffix == "n") {
    scale = 1e-9L;
  } else if (suffix == "u") {
    scale = 1e-6L;
  } else if (suffix == "m") {
    scale = 1e-3L;
  } else if (suffix == "k") {
    scale = 1e3L;
  } else if (suffix == "M") {
    scale = 1e6L;
  } else if (suffix == "G") {
    scale = 1e9L;
  } else if (suffix == "T") {
    scale = 1e12L;
  } else if (suffix == "P") {
    scale = 1e15L;
  } else if (suffix == "E") {
    scale = 1e18L;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view exp = suffix.substr(1);
    std::size_t k = 0;
    bool exp_negative = false;
    if (k < exp.size() && (exp[k] == '+' || exp[k] == '-')) exp_negative = exp[k++] == '-';
    if (k == exp.size() || exp.size() - k > 3) return bad();
    int e = 0;
    for (; k < exp.size(); ++k) {
      if (exp[k] < '0' || exp[k] > '9') return bad();
      e = e * 10 + (exp[k] - '0');
    }
    scale = std::pow(10.0L, exp_negative ? -e : e);
  } else {
    return bad();
  }
  long double value = std::strtold(std::string(number).c_str(), nullptr) * scale;
  if (milli) value *= 1000.0L;
  value = std::ceil(value - 1e-9L);  // round up like Quantity.MilliValue/Value
  if (negative) value = -value;
  if (value > static_cast<long double>(std::numeric_limits<int64_t>::max()) ||
      value < static_cast<long double>(std::numeric_limits<int64_t>::min())) {
    return bad();
  }
  return static_cast<int64_t>(value);
}

base::Status LineSplitter::Feed(std::string_view data,
                                const std::function<base::Status(std::string_view)>& line) {
  if (failed_) return base::Status::Error("watch stream: earlier error");
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    std::string_view part = data.substr(0, nl);
    if (buffer_.size() + part.size() > max_) {
      failed_ = true;
      buffer_.clear();
      buffer_.shrink_to_fit();
      return base::Status::Error("watch event larger than " + std::to_string(max_) + " bytes");
    }
    if (nl == std::string_view::npos) {
      buffer_.append(part);
      return base::Status::Ok();
    }
    std::string_view complete = part;
    if (!buffer_.empty()) {
      buffer_.append(part);
      complete = buffer_;
    }
    data.remove_prefix(nl + 1);
    bool blank = complete.find_first_not_of(" \t\r") == std::string_view::npos;
    base::Status s = blank ? base::Status::Ok() : line(complete);
    buffer_.clear();
    if (!s.ok()) {
      failed_ = true;
      return s;
    }
  }
  return base::Status::Ok();
}

}  // namespace kube
