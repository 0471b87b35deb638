// JSON decoding of the Kubernetes objects this library keeps, and splitting of watch streams.
// Nothing here throws: malformed input is an error value. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kube/objects.h"

namespace kube {

// A v1.Node object (JSON) reduced to kube::Node. allocatable and capacity cpu/memory are parsed
// from resource.Quantity strings ("4", "3800m", "16318012Ki", "1G", "1e3"); a negative capacity
// counts as unknown (0).
base::Result<Node> DecodeNode(std::string_view json);
// A Pod or PartialObjectMetadata object (JSON) reduced to kube::Pod (metadata only).
base::Result<Pod> DecodePodMetadata(std::string_view json);
// A full v1.Pod (JSON) reduced to kube::PodResources. A quantity that does not parse or is
// negative counts as unset (0); a container without a name is dropped.
base::Result<PodResources> DecodePodResources(std::string_view json);

// A resource.Quantity in base units, rounded up (cpu in millicores with milli=true).
base::Result<int64_t> ParseQuantity(std::string_view text, bool milli);

// One page of a list (NodeList, PartialObjectMetadataList, PodList).
template <typename T>
struct ListPage {
  std::vector<T> items;
  std::string resource_version;  // metadata.resourceVersion
  std::string continue_token;    // metadata.continue; "" = last page
};
base::Result<ListPage<Node>> DecodeNodeList(std::string_view json);
base::Result<ListPage<Pod>> DecodePodMetadataList(std::string_view json);
base::Result<ListPage<PodResources>> DecodePodResourcesList(std::string_view json);

// A decoded watch event ({"type":..., "object":...}).
enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
template <typename T>
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  T object;                      // decoded for ADDED/MODIFIED/DELETED
  std::string resource_version;  // object.metadata.resourceVersion (bookmarks too)
  int error_code = 0;            // kError: the Status code (410 = Gone)
  std::string error_message;     // kError: the Status message
};
base::Result<WatchEvent<Node>> DecodeNodeWatchEvent(std::string_view line);
base::Result<WatchEvent<Pod>> DecodePodWatchEvent(std::string_view line);
base::Result<WatchEvent<PodResources>> DecodePodResourcesWatchEvent(std::string_view line);
// Generic forms for other kinds (e.g. ConfigMaps): each object is handed back as its JSON text.
base::Result<ListPage<std::string>> DecodeRawList(std::string_view json);
base::Result<WatchEvent<std::string>> DecodeRawWatchEvent(std::string_view line);

// Splits a watch stream into newline-delimited JSON objects as bytes arrive. A line longer than
// max_line_bytes is an error and poisons the splitter. Not thread-safe.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}
  // Calls `line` for each complete non-blank line; stops at and returns the first error (from
  // the callback or the size limit).
  base::Status Feed(std::string_view data,
                    const std::function<base::Status(std::string_view)>& line);
  std::size_t buffered() const { return buffer_.size(); }

 private:
  std::size_t max_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace kube
