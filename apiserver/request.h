// The request and response values passed between the TLS server and the handlers, the query
// string decoder, Accept negotiation and the Kubernetes request-info parser (what a path means
// for authorization and routing). Plain values and pure functions; thread-safe.
#pragma once

#include <openssl/x509.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apiserver/format.h"
#include "base/mutex.h"
#include "base/result.h"

namespace apiserver {

// The verified-or-not certificate chain a client presented (leaf first), owned via X509
// reference counts. Immutable.
class PeerCertificates {
 public:
  // Takes new references to `leaf` and every element of `chain` (which may include the leaf).
  PeerCertificates(X509* leaf, STACK_OF(X509) * chain);
  ~PeerCertificates();
  PeerCertificates(const PeerCertificates&) = delete;
  PeerCertificates& operator=(const PeerCertificates&) = delete;

  X509* leaf() const { return leaf_; }
  // Intermediates offered by the peer (never null, may be empty).
  STACK_OF(X509) * intermediates() const { return intermediates_; }

  // How long a verification outcome is remembered: a certificate that expires, or a CA that is
  // removed from a store object still in use, takes effect within this time.
  static constexpr std::chrono::seconds kVerificationMemo{10};
  // The outcome of `verify` (verifying this chain against `store`), run at most once per
  // kVerificationMemo for each store: the requests of one kept-alive connection share one
  // chain verification instead of repeating its signature checks. The store is referenced
  // while remembered, so a replaced trust store is never mistaken for the old one. Thread-safe.
  base::Status VerifiedAgainst(
      X509_STORE* store, const std::function<base::Status()>& verify,
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;

 private:
  struct Memo {
    X509_STORE* store = nullptr;  // referenced
    std::chrono::steady_clock::time_point at;
    base::Status outcome;
  };

  X509* leaf_;
  STACK_OF(X509) * intermediates_;
  mutable base::Mutex memo_mu_;
  mutable std::array<Memo, 2> memo_ GUARDED_BY(memo_mu_);  // front-proxy CA and client CA
  // The slot replaced next when neither store matches.
  mutable size_t memo_next_ GUARDED_BY(memo_mu_) = 0;
};

struct HttpRequest {
  std::string method;                                        // "GET", ...
  std::string target;                                        // path and query as received
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as received
  std::shared_ptr<const PeerCertificates> peer;              // null without a client cert

  std::string_view Path() const;
  std::string_view RawQuery() const;  // after '?', may be empty
  // First value of a header (case-insensitive name), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// One piece of a streamed body: `parts` are written back to back as one HTTP chunk and point into
// memory `keep` holds (shared by every stream writing the same bytes). `end` = the stream is over.
struct StreamChunk {
  std::vector<std::string_view> parts;  // never all empty unless `end`
  std::shared_ptr<const void> keep;
  bool end = false;
};

// A response body produced over time: a watch, written with chunked transfer encoding after the
// headers, one HTTP chunk per StreamChunk, until the stream ends or the connection fails; or a
// large list encoded as it is written (HttpResponse::stream_finite), its chunks back to back.
//
// Thread-safety: both methods may be called from any thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Asks for the next chunk: `next` is called exactly once, from any thread and possibly before
  // Next returns, with a chunk or with `end`. At most one Next is outstanding; none after `end`.
  virtual void Next(std::function<void(StreamChunk)> next) = 0;
  // The connection is gone or the server shuts down: the stream ends (an outstanding Next gets
  // `end`) and its producer forgets it. Idempotent.
  virtual void Cancel() = 0;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // When set, the body is this shared, immutable buffer instead of `body`, written from where it
  // is (not copied; the session holds it until written): for a large text served to every
  // request, such as /metrics/heapster's.
  std::shared_ptr<const std::string> shared_body;
  // When set, the body is this stream instead of `body`; the connection closes after it, unless
  // `stream_finite`.
  std::shared_ptr<ResponseStream> stream;
  // The stream is one answer of exactly `stream_size` bytes whose chunks come without waiting
  // (a large list), not a watch: it is written with that Content-Length (the chunks back to
  // back, no chunked encoding), the connection is kept alive after it, each chunk's write is
  // bounded by the write timeout from the moment it is asked for, and a shutdown lets it finish
  // like any request.
  bool stream_finite = false;
  // A finite stream's size, reserved in the server's budget for pending response bytes while
  // it is written (as a body of that size would be).
  std::size_t stream_size = 0;

  // The bytes of the body (not of a stream).
  std::size_t body_size() const { return shared_body ? shared_body->size() : body.size(); }
};

// Decoded query string: HTML form rules ('+' is a space, %XX escapes, first value wins).
// Malformed pairs are dropped, as Go's url.Values parsing does for Request.URL.Query().
class Query {
 public:
  explicit Query(std::string_view raw);
  // First value of `key`, or nullopt when absent.
  std::optional<std::string> Get(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// Percent-decodes `s`; `plus_is_space` for form values. nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

// The outcome of Accept negotiation.
struct Negotiated {
  Format format = Format::kJson;
  std::string table_version;  // "v1" or "v1beta1" when format == kTable
};
// Picks the first acceptable entry of `accept` (by q, then order) among the formats allowed:
// JSON always; protobuf if `allow_protobuf`; Table if `allow_table`. Empty header = JSON.
// nullopt = nothing acceptable (406, NotAcceptableError in status.h).
std::optional<Negotiated> Negotiate(std::string_view accept, bool allow_protobuf, bool allow_table);

// What a path means, as k8s.io/apiserver's RequestInfoFactory derives it.
struct RequestInfo {
  bool is_resource = false;
  std::string path;
  std::string verb;  // resource: get, list, watch, create, ...; non-resource: lower-case method
  std::string api_group;
  std::string api_version;
  std::string namespace_;
  std::string resource;
  std::string subresource;
  std::string name;
  size_t parts = 0;           // path segments after /apis/<group>/<version>[/namespaces/<ns>]
  bool watch_prefix = false;  // legacy /apis/<g>/<v>/watch/... form
};
RequestInfo ParseRequestInfo(std::string_view method, std::string_view path, const Query& query);

// Apimachinery's string-to-bool for query flags such as `watch`: absent/"0"/"false" are false,
// anything else (even "") is true.
bool QueryBool(const std::optional<std::string>& value);

}  // namespace apiserver
