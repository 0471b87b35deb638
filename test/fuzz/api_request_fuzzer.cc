// libFuzzer target for the API server's request parsing (query decoding, Accept negotiation,
// request-info parsing, label/field selectors from the query) and the handlers behind them,
// also run over the seed corpus by api_request_corpus_test. Input: the request target on the
// first line, the Accept header on the second, the method on the third (default GET).
// Invariants: every response has a Content-Type, a known status, and a JSON body that parses
// whenever the Content-Type is JSON; protobuf bodies carry the "k8s\0" envelope. Watch is served
// (a WatchHub on an io_context polled here): a watch's stream yields its first chunk (initial
// events, or an ERROR event), each JSON event line parses, and it is cancelled.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "apiserver/metrics_api.h"
#include "apiserver/watch.h"
#include "test/fuzz/fixed_window.h"
#include "window/publication.h"

namespace {

struct Fixture {
  Fixture() {
    nodes.Replace({{"node-1", {{"role", "worker"}}, {}, {}, 0, 0, 0}});
    pods.Replace({{"default", "web-0", {{"app", "web"}}}});
    windows.Publish(fuzz_support::FixedWindow());
  }
  window::Publication windows;
  kube::NodeCache nodes;
  kube::PodCache pods;
  base::ManualClock clock;
  boost::asio::io_context io;  // polled by each input, never run by a thread
  apiserver::WatchHub hub{io, windows, nodes, pods, clock, {}};
  apiserver::MetricsApi api{windows, nodes, pods, clock, WithWatch(&hub)};

  static apiserver::MetricsApiOptions WithWatch(apiserver::WatchHub* hub) {
    apiserver::MetricsApiOptions options;
    options.watch = hub;
    return options;
  }
};

// Takes the stream's first chunk (the hub's work is polled), checks it, cancels the stream.
void CheckStream(Fixture& f, apiserver::HttpResponse& r) {
  if (r.status != 200 || !r.body.empty()) std::abort();
  std::string first;
  bool called = false;
  r.stream->Next([&](apiserver::StreamChunk chunk) {
    called = true;
    for (auto p : chunk.parts) first.append(p);
  });
  f.io.restart();
  f.io.poll();
  if (r.content_type == "application/json") {
    std::string_view rest = first;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) std::abort();  // events are newline-terminated
      if (!nlohmann::json::accept(rest.substr(0, nl))) std::abort();
      rest.remove_prefix(nl + 1);
    }
  } else if (r.content_type != "application/vnd.kubernetes.protobuf;stream=watch") {
    std::abort();
  }
  (void)called;  // a watch from the current window has nothing to send yet
  r.stream->Cancel();
  r.stream.reset();
  f.io.restart();
  f.io.poll();
}

std::string_view Line(std::string_view& rest) {
  size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  apiserver::HttpRequest req;
  req.target = std::string(Line(rest));
  std::string accept(Line(rest));
  std::string method(Line(rest));
  req.method = method.empty() ? "GET" : method;
  apiserver::Query query(req.RawQuery());
  apiserver::RequestInfo info = apiserver::ParseRequestInfo(req.method, req.Path(), query);
  apiserver::HttpResponse r;
  if (info.is_resource) {
    r = fixture->api.ServeResource(info, query, accept);
  } else if (auto d = fixture->api.ServeDiscovery(req.Path(), accept)) {
    r = *d;
  } else {
    return 0;
  }
  if (r.content_type.empty()) std::abort();
  if (r.stream) {
    CheckStream(*fixture, r);
    return 0;
  }
  switch (r.status) {
    case 200:
    case 400:
    case 404:
    case 405:
    case 406:
    case 422:  // parameter combinations ValidateListOptions forbids (k8s.io/apiserver get.go)
      break;
    default:
      std::abort();
  }
  if (r.content_type == "application/json") {
    if (!nlohmann::json::accept(r.body)) std::abort();
  } else if (r.content_type == "application/vnd.kubernetes.protobuf") {
    if (r.body.compare(0, 4, std::string("k8s\0", 4)) != 0) std::abort();
  } else {
    std::abort();
  }
  return 0;
}
