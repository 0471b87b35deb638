// OpenAPI documents for metrics.k8s.io, so `kubectl explain` and the aggregator's OpenAPI
// aggregation see our kinds: Swagger 2.0 at /openapi/v2, and OpenAPI 3.0 at /openapi/v3 (an
// index of group-versions) and /openapi/v3/apis/metrics.k8s.io/<version>.
//
// Documents are rendered once at construction; Serve is thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/request.h"

namespace apiserver {

class OpenApi {
 public:
  // `versions`: the served metrics.k8s.io versions.
  explicit OpenApi(const std::vector<std::string>& versions);

  // nullopt when `path` is not an OpenAPI path. Sets an ETag; answers 304 to If-None-Match.
  std::optional<HttpResponse> Serve(std::string_view path, const HttpRequest& request) const;

  const std::string& v2() const { return v2_; }

 private:
  std::string v2_;
  std::string v2_etag_;
  std::string v3_index_;
  std::map<std::string, std::pair<std::string, std::string>> v3_;  // path -> (doc, etag)
};

}  // namespace apiserver
