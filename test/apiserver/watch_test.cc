// Watch over the real server and real TLS on 127.0.0.1 port 0: lists carry the window generation
// as resourceVersion, a watch continues from it with ADDED/MODIFIED/DELETED per window (chunked,
// newline-delimited JSON), selectors (ADDED/DELETED as labels start or stop matching), Table
// watches (one-row Tables, the columns in the first event), bookmarks, sendInitialEvents,
// timeoutSeconds, 410 for a resourceVersion the server no longer has, 400 for bad parameters, 429
// at --max-watches, a slow reader closed instead of buffered, and watches ended cleanly at
// shutdown.
#include "apiserver/watch.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <future>
#include <optional>
#include <set>
#include <string>

#include "apiserver/metrics_api.h"
#include "apiserver/server.h"
#include "apiserver/status.h"
#include "apiserver/tls.h"
#include "test/apiserver/proto_reader.h"
#include "test/testing/io_threads.h"
#include "test/testing/test_pki.h"
#include "test/testing/wait.h"
#include "window/publication.h"

namespace apiserver {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace asio = boost::asio;

constexpr base::UnixNanos kSample = 1736430339'000'000'000LL;

window::PodInput Pod(std::string ns, std::string name, uint64_t cpu = 1000000) {
  window::PodInput p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.timestamp = kSample;
  p.window = std::chrono::seconds(15);
  p.containers = {{"app", cpu, 1 << 20}};
  return p;
}

window::NodeMetrics Node(std::string name, uint64_t cpu) {
  return {std::move(name), kSample, std::chrono::seconds(15), cpu, 1ull << 30};
}

// Routes resource requests straight to the MetricsApi (authentication is tested elsewhere).
class ApiOnly : public Handler {
 public:
  explicit ApiOnly(const MetricsApi& api) : api_(api) {}
  void Handle(HttpRequest request, std::function<void(HttpResponse)> done) override {
    Query query(request.RawQuery());
    RequestInfo info = ParseRequestInfo(request.method, request.Path(), query);
    if (!info.is_resource) {
      auto r = api_.ServeDiscovery(request.Path(), request.Header("Accept").value_or(""));
      return done(r ? std::move(*r) : ErrorResponse(NotFoundError()));
    }
    done(api_.ServeResource(info, query, request.Header("Accept").value_or("")));
  }

 private:
  const MetricsApi& api_;
};

// A blocking HTTPS client that reads a chunked watch stream event by event.
class WatchClient {
 public:
  WatchClient(uint16_t port, const std::string& ca_file)
      : ctx_(asio::ssl::context::tls_client), stream_(io_, ctx_) {
    ctx_.load_verify_file(ca_file);
    ctx_.set_verify_mode(asio::ssl::verify_peer);
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    stream_.lowest_layer().connect(ep);
    timeval tv{10, 0};
    setsockopt(stream_.lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    stream_.handshake(asio::ssl::stream_base::client);
  }

  // Sends a GET and reads the response head; returns the status code.
  unsigned Get(const std::string& target, const std::string& accept = "application/json") {
    const std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nAccept: " + accept + "\r\n\r\n";
    asio::write(stream_, asio::buffer(req));
    while (raw_.find("\r\n\r\n") == std::string::npos) {
      if (!Fill()) return 0;
    }
    const size_t end = raw_.find("\r\n\r\n");
    head_ = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    chunked_ = head_.find("Transfer-Encoding: chunked") != std::string::npos ||
               head_.find("transfer-encoding: chunked") != std::string::npos;
    return static_cast<unsigned>(std::stoul(head_.substr(9, 3)));
  }
  const std::string& head() const { return head_; }

  // The body of a non-chunked response (Content-Length).
  std::string Body() {
    const size_t at = head_.find("Content-Length: ");
    const size_t length = std::stoul(head_.substr(at + 16));
    while (raw_.size() < length) {
      if (!Fill()) break;
    }
    return raw_.substr(0, length);
  }

  // The next event, or nullopt when the stream ended (terminating chunk) or nothing came.
  std::optional<json> Next() {
    for (;;) {
      const size_t nl = body_.find('\n');
      if (nl != std::string::npos) {
        json event = json::parse(body_.substr(0, nl));
        body_.erase(0, nl + 1);
        return event;
      }
      if (ended_ || !ReadChunk()) return std::nullopt;
    }
  }
  // The next protobuf frame (4-byte big-endian length, then the bytes), or nullopt.
  std::optional<std::string> NextFrame() {
    for (;;) {
      if (body_.size() >= 4) {
        const auto* b = reinterpret_cast<const unsigned char*>(body_.data());
        const size_t n = (size_t{b[0]} << 24) | (size_t{b[1]} << 16) | (size_t{b[2]} << 8) | b[3];
        if (body_.size() >= 4 + n) {
          std::string frame = body_.substr(4, n);
          body_.erase(0, 4 + n);
          return frame;
        }
      }
      if (ended_ || !ReadChunk()) return std::nullopt;
    }
  }
  bool ended() const { return ended_; }
  // Events until the end of the stream.
  std::vector<json> Rest() {
    std::vector<json> out;
    while (auto e = Next()) out.push_back(std::move(*e));
    return out;
  }

 private:
  bool Fill() {
    char buf[16384];
    boost::system::error_code ec;
    const size_t n = stream_.read_some(asio::buffer(buf), ec);
    if (ec || n == 0) return false;
    raw_.append(buf, n);
    return true;
  }
  bool ReadChunk() {
    size_t line;
    while ((line = raw_.find("\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    const size_t size = std::stoul(raw_.substr(0, line), nullptr, 16);
    while (raw_.size() < line + 2 + size + 2) {
      if (!Fill()) return false;
    }
    body_.append(raw_, line + 2, size);
    raw_.erase(0, line + 2 + size + 2);
    if (size == 0) ended_ = true;
    return true;
  }

  asio::io_context io_;
  asio::ssl::context ctx_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  std::string raw_;
  std::string head_;
  std::string body_;
  bool chunked_ = false;
  bool ended_ = false;
};

class WatchTest : public ::testing::Test {
 protected:
  WatchTest() {
    nodes_.Replace({{"node-a", {{"role", "worker"}}, {}, {}, 0, 0, 0},
                    {"node-b", {{"role", "infra"}}, {}, {}, 0, 0, 0}});
    pods_.Replace({{"default", "web-0", {{"app", "web"}}},
                   {"default", "web-1", {{"app", "web"}}},
                   {"default", "db-0", {{"app", "db"}}},
                   {"kube-system", "dns", {{"app", "dns"}}}});
    Publish({Node("node-a", 1), Node("node-b", 2)},
            {Pod("default", "web-0"), Pod("default", "web-1"), Pod("default", "db-0")});
  }
  ~WatchTest() override {
    // Drain before the io threads stop: a watch's connection and its stream hold each other
    // (the stream keeps the connection's callback while it waits for the next window) until the
    // drain ends the stream, so stopping first would leave both allocated.
    if (server_) {
      auto drained = std::make_shared<std::promise<void>>();
      std::future<void> done = drained->get_future();
      server_->Shutdown([drained] { drained->set_value(); });
      EXPECT_EQ(done.wait_for(10s), std::future_status::ready) << "the server did not drain";
    }
    server_io_.Stop();
  }

  void Publish(std::vector<window::NodeMetrics> nodes, std::vector<window::PodInput> pods) {
    windows_.Publish(
        std::make_shared<window::Window>(++generation_, std::move(nodes), std::move(pods)));
  }

  void Start(WatchOptions options = {}, ServerOptions server_options = {}) {
    hub_ = std::make_unique<WatchHub>(server_io_.io, windows_, nodes_, pods_, clock_, options);
    MetricsApiOptions api_options;
    api_options.watch = hub_.get();
    api_ = std::make_unique<MetricsApi>(windows_, nodes_, pods_, clock_, api_options);
    handler_ = std::make_unique<ApiOnly>(*api_);
    TlsServingOptions tls;
    tls.cert_file = serving_files_.cert_file;
    tls.key_file = serving_files_.key_file;
    auto certs = ServingCertificates::Create(tls, clock_);
    ASSERT_TRUE(certs.ok()) << certs.error();
    certs_ = std::move(*certs);
    server_options.bind_address = "127.0.0.1";
    server_options.port = 0;
    server_ = std::make_unique<Server>(server_io_.io, server_options, *certs_, *handler_);
    ASSERT_TRUE(server_->Listen().ok());
    server_->Start();
  }

  std::unique_ptr<WatchClient> Client() {
    return std::make_unique<WatchClient>(server_->port(), server_pki_.ca_file());
  }

  // Waits until the hub has `n` watches registered and has taken the current window.
  void WaitWatchers(uint32_t n) {
    ASSERT_TRUE(testing_support::WaitFor([&] { return hub_->watchers() == n; }, 10s));
  }

  static std::string Name(const json& event) {
    const json& meta = event["object"]["metadata"];
    const std::string ns = meta.value("namespace", "");
    return (ns.empty() ? "" : ns + "/") + meta["name"].get<std::string>();
  }
  static std::string Describe(const json& event) {
    return event["type"].get<std::string>() + " " + Name(event);
  }

  base::ManualClock clock_{kSample + 20'000'000'000LL};
  testing_support::TestPki server_pki_{"server-ca"};
  testing_support::PemFiles serving_files_ =
      server_pki_.WriteFiles("serving", server_pki_.ServerCert());
  window::Publication windows_;
  kube::NodeCache nodes_;
  kube::PodCache pods_;
  uint64_t generation_ = 0;
  std::unique_ptr<ServingCertificates> certs_;
  // Destroyed before what is declared above; the io threads are stopped first of all.
  testing_support::IoThreads server_io_{2};
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<MetricsApi> api_;
  std::unique_ptr<ApiOnly> handler_;
  std::unique_ptr<Server> server_;
};

TEST_F(WatchTest, ListThenWatchFromItsResourceVersionGetsEachWindowsChanges) {
  Start();
  auto list = Client();
  ASSERT_EQ(list->Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"), 200u);
  const json body = json::parse(list->Body());
  ASSERT_EQ(body["metadata"]["resourceVersion"], "1");
  ASSERT_EQ(body["items"].size(), 3u);

  auto watch = Client();
  ASSERT_EQ(watch->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&resourceVersion=1"), 200u);
  EXPECT_NE(watch->head().find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(watch->head().find("Content-Type: application/json"), std::string::npos);
  WaitWatchers(1);

  // web-0 changes, web-1 is unchanged, db-0 is gone, dns appears.
  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1"), Pod("kube-system", "dns")});
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    auto e = watch->Next();
    ASSERT_TRUE(e.has_value());
    seen.push_back(Describe(*e));
    EXPECT_EQ((*e)["object"]["metadata"]["resourceVersion"], "2");
    EXPECT_EQ((*e)["object"]["kind"], "PodMetrics");
    EXPECT_EQ((*e)["object"]["apiVersion"], "metrics.k8s.io/v1beta1");
    if (Name(*e) == "default/web-0") {
      EXPECT_EQ((*e)["object"]["containers"][0]["usage"]["cpu"], "5m");
      EXPECT_EQ((*e)["object"]["metadata"]["labels"]["app"], "web");
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"DELETED default/db-0", "MODIFIED default/web-0",
                                            "ADDED kube-system/dns"}));
  // The next window: only what changed since the one before.
  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1", 7000000),
           Pod("kube-system", "dns")});
  auto e = watch->Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(Describe(*e), "MODIFIED default/web-1");
  EXPECT_EQ((*e)["object"]["metadata"]["resourceVersion"], "3");
}

TEST_F(WatchTest, WithoutResourceVersionStartsWithTheCurrentObjectsAndHonoursSelectors) {
  Start();
  auto all = Client();
  ASSERT_EQ(all->Get("/apis/metrics.k8s.io/v1/nodes?watch=true"), 200u);
  auto a = all->Next();
  auto b = all->Next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(Describe(*a), "ADDED node-a");
  EXPECT_EQ(Describe(*b), "ADDED node-b");
  EXPECT_EQ((*a)["object"]["apiVersion"], "metrics.k8s.io/v1");
  EXPECT_EQ((*a)["object"]["metadata"]["resourceVersion"], "1");

  auto labelled = Client();
  ASSERT_EQ(labelled->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&labelSelector=role%3Dinfra"),
            200u);
  auto by_name = Client();
  ASSERT_EQ(by_name->Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?watch=1&"
                         "fieldSelector=metadata.name%3Dweb-1"),
            200u);
  auto by_path = Client();
  ASSERT_EQ(by_path->Get("/apis/metrics.k8s.io/v1beta1/watch/namespaces/default/pods/db-0"), 200u);
  auto other_ns = Client();
  ASSERT_EQ(other_ns->Get("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods?watch=1"),
            200u);
  EXPECT_EQ(Describe(*labelled->Next()), "ADDED node-b");
  EXPECT_EQ(Describe(*by_name->Next()), "ADDED default/web-1");
  EXPECT_EQ(Describe(*by_path->Next()), "ADDED default/db-0");
  WaitWatchers(5);

  Publish({Node("node-a", 10), Node("node-b", 20)},
          {Pod("default", "web-0", 9), Pod("default", "web-1", 9), Pod("default", "db-0", 9),
           Pod("kube-system", "dns", 9)});
  EXPECT_EQ(Describe(*all->Next()), "MODIFIED node-a");
  EXPECT_EQ(Describe(*all->Next()), "MODIFIED node-b");
  EXPECT_EQ(Describe(*labelled->Next()), "MODIFIED node-b");
  EXPECT_EQ(Describe(*by_name->Next()), "MODIFIED default/web-1");
  EXPECT_EQ(Describe(*by_path->Next()), "MODIFIED default/db-0");
  EXPECT_EQ(Describe(*other_ns->Next()), "ADDED kube-system/dns");
}

// kubectl get --watch asks for Tables: each event's object is a meta.k8s.io Table of one row with
// the list Table's cells (and, by default, the object's metadata), the column definitions only in
// the first event of the stream, be it an initial ADDED or a later change.
TEST_F(WatchTest, TableWatchSendsOneRowTablesWithTheColumnsInTheFirstEventOnly) {
  Start();
  const std::string kubectl_accept =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
      "g=meta.k8s.io,application/json";
  auto table = Client();
  ASSERT_EQ(table->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1", kubectl_accept), 200u);
  EXPECT_NE(table->head().find("Content-Type: application/json"), std::string::npos);
  auto from_list = Client();
  ASSERT_EQ(from_list->Get("/apis/metrics.k8s.io/v1/namespaces/default/pods?watch=1&"
                           "resourceVersion=1&includeObject=Object",
                           "application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
            200u);
  auto nodes = Client();
  ASSERT_EQ(nodes->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&includeObject=None&"
                       "labelSelector=role%3Dinfra",
                       kubectl_accept),
            200u);

  auto row = [](const json& event) { return event["object"]["rows"][0]; };
  const std::vector<std::string> columns = {"Name", "cpu", "memory", "Window"};
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    auto e = table->Next();
    ASSERT_TRUE(e.has_value());
    const json& object = (*e)["object"];
    EXPECT_EQ(object["kind"], "Table");
    EXPECT_EQ(object["apiVersion"], "meta.k8s.io/v1");
    EXPECT_EQ(object["metadata"]["resourceVersion"], "1");
    ASSERT_EQ(object["rows"].size(), 1u);
    if (i == 0) {
      ASSERT_EQ(object["columnDefinitions"].size(), 4u) << *e;
      for (size_t c = 0; c < columns.size(); ++c) {
        EXPECT_EQ(object["columnDefinitions"][c]["name"], columns[c]);
      }
    } else {
      EXPECT_TRUE(object["columnDefinitions"].is_null()) << *e;
    }
    const json r = row(*e);
    EXPECT_EQ(r["cells"],
              json::parse(R"([")" + r["cells"][0].get<std::string>() + R"(","1m","1Mi","15s"])"));
    EXPECT_EQ(r["object"]["kind"], "PartialObjectMetadata");
    EXPECT_EQ(r["object"]["apiVersion"], "meta.k8s.io/v1");
    EXPECT_EQ(r["object"]["metadata"]["namespace"], "default");
    EXPECT_EQ(r["object"]["metadata"]["resourceVersion"], "1");
    EXPECT_EQ(r["object"]["metadata"]["labels"]["app"], r["cells"][0] == "db-0" ? "db" : "web");
    seen.push_back((*e)["type"].get<std::string>() + " " + r["cells"][0].get<std::string>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED db-0", "ADDED web-0", "ADDED web-1"}));
  auto n = nodes->Next();
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ((*n)["type"], "ADDED");
  EXPECT_EQ((*n)["object"]["columnDefinitions"].size(), 4u);
  EXPECT_EQ(row(*n)["cells"], json::parse(R"(["node-b","2n","1Gi","15s"])"));
  EXPECT_FALSE(row(*n).contains("object"));
  WaitWatchers(3);

  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1"), Pod("default", "db-0")});
  auto e = table->Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ((*e)["type"], "MODIFIED");
  EXPECT_TRUE((*e)["object"]["columnDefinitions"].is_null());
  EXPECT_EQ((*e)["object"]["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(row(*e)["cells"], json::parse(R"(["web-0","5m","1Mi","15s"])"));

  // A watch from a list's version: its first event is a change, and it carries the columns.
  auto f = from_list->Next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ((*f)["type"], "MODIFIED");
  EXPECT_EQ((*f)["object"]["apiVersion"], "meta.k8s.io/v1beta1");
  EXPECT_EQ((*f)["object"]["columnDefinitions"].size(), 4u);
  const json object = row(*f)["object"];
  EXPECT_EQ(object["kind"], "PodMetrics");
  EXPECT_EQ(object["apiVersion"], "metrics.k8s.io/v1");
  EXPECT_EQ(object["metadata"]["name"], "web-0");
  EXPECT_EQ(object["containers"][0]["usage"]["cpu"], "5m");

  Publish({Node("node-a", 1), Node("node-b", 7)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1"), Pod("default", "db-0")});
  n = nodes->Next();
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ((*n)["type"], "MODIFIED");
  EXPECT_TRUE((*n)["object"]["columnDefinitions"].is_null());
  EXPECT_EQ(row(*n)["cells"][0], "node-b");
}

// As k8s.io/apiserver's watch cache: a label-selector watcher gets ADDED for an object whose
// labels start to match and DELETED (its previous state, at the new resourceVersion) for one whose
// labels stop matching; a watcher without a selector gets MODIFIED for both.
TEST_F(WatchTest, LabelSelectorWatchGetsAddedAndDeletedWhenLabelsStartOrStopMatching) {
  Start();
  auto web = Client();
  ASSERT_EQ(web->Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?watch=1&"
                     "resourceVersion=1&labelSelector=app%3Dweb"),
            200u);
  auto db = Client();
  ASSERT_EQ(db->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&resourceVersion=1&"
                    "labelSelector=app%3Ddb"),
            200u);
  auto all = Client();
  ASSERT_EQ(all->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&resourceVersion=1"), 200u);
  auto web_proto = Client();
  ASSERT_EQ(web_proto->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&resourceVersion=1&"
                           "labelSelector=app%3Dweb",
                           "application/vnd.kubernetes.protobuf"),
            200u);
  WaitWatchers(4);

  // web-1 becomes a db, db-0 a web; web-0 keeps its labels and changes its usage.
  pods_.Replace({{"default", "web-0", {{"app", "web"}}},
                 {"default", "web-1", {{"app", "db"}}},
                 {"default", "db-0", {{"app", "web"}}},
                 {"kube-system", "dns", {{"app", "dns"}}}});
  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1"), Pod("default", "db-0")});
  auto next = [](WatchClient& c) {
    auto e = c.Next();
    return e ? Describe(*e) +
                   " app=" + (*e)["object"]["metadata"]["labels"]["app"].get<std::string>() +
                   " rv=" + (*e)["object"]["metadata"]["resourceVersion"].get<std::string>()
             : std::string("(none)");
  };
  EXPECT_EQ(next(*web), "ADDED default/db-0 app=web rv=2");
  EXPECT_EQ(next(*web), "MODIFIED default/web-0 app=web rv=2");
  EXPECT_EQ(next(*web), "DELETED default/web-1 app=web rv=2");
  EXPECT_EQ(next(*db), "DELETED default/db-0 app=db rv=2");
  EXPECT_EQ(next(*db), "ADDED default/web-1 app=db rv=2");
  EXPECT_EQ(next(*all), "MODIFIED default/db-0 app=web rv=2");
  EXPECT_EQ(next(*all), "MODIFIED default/web-0 app=web rv=2");
  EXPECT_EQ(next(*all), "MODIFIED default/web-1 app=db rv=2");
  // The protobuf watch takes the same choice: three frames, ADDED, MODIFIED, DELETED.
  std::vector<std::string> types;
  for (int i = 0; i < 3; ++i) {
    auto frame = web_proto->NextFrame();
    ASSERT_TRUE(frame.has_value());
    for (const char* type : {"ADDED", "MODIFIED", "DELETED"}) {
      if (frame->find(type) != std::string::npos) types.push_back(type);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));

  // Nothing else came from that window: the next events are the next window's.
  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 5000000), Pod("default", "web-1", 3000000),
           Pod("default", "db-0", 3000000)});
  EXPECT_EQ(next(*web), "MODIFIED default/db-0 app=web rv=3");
  EXPECT_EQ(next(*db), "MODIFIED default/web-1 app=db rv=3");
  EXPECT_EQ(next(*all), "MODIFIED default/db-0 app=web rv=3");
  EXPECT_EQ(next(*all), "MODIFIED default/web-1 app=db rv=3");
}

TEST_F(WatchTest, BookmarksAndSendInitialEvents) {
  Start();
  auto w = Client();
  ASSERT_EQ(w->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&allowWatchBookmarks=true&"
                   "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&"
                   "labelSelector=app%3Ddb"),
            200u);
  EXPECT_EQ(Describe(*w->Next()), "ADDED default/db-0");
  auto end = w->Next();
  ASSERT_TRUE(end);
  EXPECT_EQ((*end)["type"], "BOOKMARK");
  EXPECT_EQ((*end)["object"]["metadata"]["resourceVersion"], "1");
  EXPECT_EQ((*end)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  WaitWatchers(1);
  // A window with nothing for this watcher: a bookmark carries the new resourceVersion.
  Publish({Node("node-a", 1), Node("node-b", 2)},
          {Pod("default", "web-0", 2), Pod("default", "web-1"), Pod("default", "db-0")});
  auto bookmark = w->Next();
  ASSERT_TRUE(bookmark);
  EXPECT_EQ((*bookmark)["type"], "BOOKMARK");
  EXPECT_EQ((*bookmark)["object"]["kind"], "PodMetrics");
  EXPECT_EQ((*bookmark)["object"]["metadata"]["resourceVersion"], "2");
  EXPECT_FALSE((*bookmark)["object"]["metadata"].contains("annotations"));
}

// application/vnd.kubernetes.protobuf;stream=watch: length-prefixed WatchEvent frames whose
// objects carry the usual envelope.
TEST_F(WatchTest, ProtobufWatchIsLengthPrefixedWatchEvents) {
  using testing::ProtoBytes;
  Start();
  auto w = Client();
  ASSERT_EQ(w->Get("/apis/metrics.k8s.io/v1/namespaces/default/pods?watch=1&"
                   "allowWatchBookmarks=true&sendInitialEvents=true&"
                   "resourceVersionMatch=NotOlderThan",
                   "application/vnd.kubernetes.protobuf, application/json"),
            200u);
  EXPECT_NE(w->head().find("Content-Type: application/vnd.kubernetes.protobuf;stream=watch"),
            std::string::npos);
  auto object = [](const std::string& event, std::string* kind) {
    const std::string raw = ProtoBytes(ProtoBytes(event, 2), 1);  // RawExtension.raw
    EXPECT_EQ(raw.substr(0, 4), std::string("k8s\0", 4));
    const std::string unknown = raw.substr(4);
    *kind = ProtoBytes(ProtoBytes(unknown, 1), 2);
    EXPECT_EQ(ProtoBytes(ProtoBytes(unknown, 1), 1), "metrics.k8s.io/v1");
    return ProtoBytes(unknown, 2);
  };
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto frame = w->NextFrame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(ProtoBytes(*frame, 1), "ADDED");
    std::string kind;
    const std::string pod = object(*frame, &kind);
    EXPECT_EQ(kind, "PodMetrics");
    names.push_back(ProtoBytes(ProtoBytes(pod, 1), 1));
    EXPECT_EQ(ProtoBytes(ProtoBytes(pod, 1), 6), "1");  // resourceVersion
  }
  EXPECT_EQ(names, (std::vector<std::string>{"db-0", "web-0", "web-1"}));
  auto end = w->NextFrame();
  ASSERT_TRUE(end);
  EXPECT_EQ(ProtoBytes(*end, 1), "BOOKMARK");
  std::string kind;
  const std::string meta = ProtoBytes(object(*end, &kind), 1);
  EXPECT_EQ(ProtoBytes(meta, 6), "1");
  EXPECT_EQ(ProtoBytes(ProtoBytes(meta, 12), 1), "k8s.io/initial-events-end");
  WaitWatchers(1);
  Publish({}, {Pod("default", "web-0", 3000000), Pod("default", "web-1"), Pod("default", "db-0")});
  auto modified = w->NextFrame();
  ASSERT_TRUE(modified);
  EXPECT_EQ(ProtoBytes(*modified, 1), "MODIFIED");
  const std::string pod = object(*modified, &kind);
  EXPECT_EQ(ProtoBytes(ProtoBytes(pod, 1), 1), "web-0");
  EXPECT_EQ(ProtoBytes(ProtoBytes(pod, 1), 6), "2");

  // A resourceVersion the server does not have: an ERROR frame with a protobuf Status.
  auto old = Client();
  ASSERT_EQ(old->Get("/apis/metrics.k8s.io/v1/pods?watch=1&resourceVersion=99",
                     "application/vnd.kubernetes.protobuf"),
            200u);
  auto error = old->NextFrame();
  ASSERT_TRUE(error);
  EXPECT_EQ(ProtoBytes(*error, 1), "ERROR");
  const std::string raw = ProtoBytes(ProtoBytes(*error, 2), 1);
  const std::string unknown = raw.substr(4);
  EXPECT_EQ(ProtoBytes(ProtoBytes(unknown, 1), 2), "Status");
  EXPECT_EQ(ProtoBytes(ProtoBytes(unknown, 2), 4), "Expired");
  EXPECT_FALSE(old->NextFrame());
  EXPECT_TRUE(old->ended());
}

TEST_F(WatchTest, ContinuesFromThePreviousWindowButNotOlderOrNewer) {
  Start();
  auto first = Client();
  ASSERT_EQ(first->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"), 200u);
  WaitWatchers(1);
  Publish({Node("node-a", 5), Node("node-b", 2)}, {});
  Publish({Node("node-a", 5), Node("node-b", 2)}, {});
  ASSERT_TRUE(testing_support::WaitFor(
      [&] {
        auto e = first->Next();
        return e && (*e)["object"]["metadata"]["resourceVersion"] == "2";
      },
      10s));

  // From 2 while 3 is current: the changes of window 3 (none for nodes here: still a stream).
  Publish({Node("node-a", 6), Node("node-b", 2)}, {});
  ASSERT_TRUE(testing_support::WaitFor(
      [&] {
        auto e = first->Next();
        return e && (*e)["object"]["metadata"]["resourceVersion"] == "4";
      },
      10s));
  auto previous = Client();
  ASSERT_EQ(previous->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&resourceVersion=3"), 200u);
  auto e = previous->Next();
  ASSERT_TRUE(e);
  EXPECT_EQ(Describe(*e), "MODIFIED node-a");
  EXPECT_EQ((*e)["object"]["metadata"]["resourceVersion"], "4");

  for (const char* rv : {"1", "99"}) {
    auto old = Client();
    ASSERT_EQ(
        old->Get(std::string("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&resourceVersion=") + rv),
        200u);
    auto events = old->Rest();
    ASSERT_EQ(events.size(), 1u) << rv;
    EXPECT_EQ(events[0]["type"], "ERROR");
    EXPECT_EQ(events[0]["object"]["kind"], "Status");
    EXPECT_EQ(events[0]["object"]["code"], 410);
    EXPECT_EQ(events[0]["object"]["reason"], "Expired");
    EXPECT_EQ(events[0]["object"]["message"],
              std::string("too old resource version: ") + rv + " (4)");
    EXPECT_TRUE(old->ended());
  }
}

// get.go's ListResource: a query that does not decode is 400 BadRequest; a combination that
// ValidateListOptions (apimachinery/pkg/apis/meta/internalversion/validation) forbids is 422
// Invalid.
TEST_F(WatchTest, BadParametersAre400Statuses) {
  Start();
  for (const char* query :
       {"resourceVersion=abc", "resourceVersion=-1", "labelSelector=a%3D%3D%3Db",
        "fieldSelector=spec.nodeName%3Dx", "timeoutSeconds=x", "timeoutSeconds=",
        "sendInitialEvents=maybe", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan"}) {
    auto c = Client();
    ASSERT_EQ(c->Get(std::string("/apis/metrics.k8s.io/v1beta1/pods?watch=1&") + query), 400u)
        << query;
    const json status = json::parse(c->Body());
    EXPECT_EQ(status["kind"], "Status") << query;
    EXPECT_EQ(status["reason"], "BadRequest") << query;
    EXPECT_EQ(status["code"], 400) << query;
  }
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1", "text/html"), 406u);
  EXPECT_EQ(hub_->watchers(), 0u);
}

TEST_F(WatchTest, ForbiddenCombinationsAre422Invalid) {
  Start();
  for (const char* query :
       {"sendInitialEvents=true&allowWatchBookmarks=true",
        "sendInitialEvents=false&resourceVersionMatch=Exact", "resourceVersionMatch=NotOlderThan",
        "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&"
        "continue=x"}) {
    auto c = Client();
    ASSERT_EQ(c->Get(std::string("/apis/metrics.k8s.io/v1beta1/pods?watch=1&") + query), 422u)
        << query;
    const json status = json::parse(c->Body());
    EXPECT_EQ(status["kind"], "Status") << query;
    EXPECT_EQ(status["reason"], "Invalid") << query;
    EXPECT_EQ(status["details"]["kind"], "ListOptions") << query;
    EXPECT_EQ(status["details"]["causes"][0]["field"], "resourceVersionMatch") << query;
  }
  EXPECT_EQ(hub_->watchers(), 0u);
}

TEST_F(WatchTest, NegativeTimeoutSecondsEndsTheWatchAtOnce) {
  // As get.go's time.After(negative): accepted, and the stream ends immediately.
  Start();
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&timeoutSeconds=-5"), 200u);
  c->Rest();
  EXPECT_TRUE(c->ended());
}

TEST_F(WatchTest, TimeoutSecondsEndsTheStreamCleanly) {
  Start();
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1&timeoutSeconds=1"), 200u);
  auto events = c->Rest();
  EXPECT_EQ(events.size(), 2u);  // the initial ADDED events
  EXPECT_TRUE(c->ended());
  WaitWatchers(0);
}

TEST_F(WatchTest, MaxWatchesAnswers429) {
  WatchOptions options;
  options.max_watches = 1;
  Start(options);
  auto first = Client();
  ASSERT_EQ(first->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"), 200u);
  auto second = Client();
  ASSERT_EQ(second->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"), 429u);
  EXPECT_NE(second->head().find("Retry-After: 1"), std::string::npos);
  const json status = json::parse(second->Body());
  EXPECT_EQ(status["reason"], "TooManyRequests");
  EXPECT_EQ(status["message"], "too many watches open (--max-watches=1), please try again later");
}

TEST_F(WatchTest, SlowReaderIsClosedNotBuffered) {
  WatchOptions options;
  options.max_queued_windows = 1;
  Start(options);
  // Many pods with long names, so that each window's events outgrow the socket buffers.
  std::vector<kube::Pod> cached;
  for (int i = 0; i < 3000; ++i) {
    cached.push_back({"default", "pod-" + std::string(100, 'x') + std::to_string(i), {}});
  }
  pods_.Replace(cached);
  auto publish_all = [&](uint64_t cpu) {
    std::vector<window::PodInput> pods;
    for (const auto& p : cached) pods.push_back(Pod(p.namespace_.str(), p.name.str(), cpu));
    std::sort(pods.begin(), pods.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    Publish({}, std::move(pods));
  };
  publish_all(1);
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1/pods?watch=1"), 200u);
  WaitWatchers(1);
  for (uint64_t i = 2; i < 30; ++i) publish_all(i * 1000);
  // Reading now: the stream ends after what was already on its way, long before window 30.
  std::set<std::string> versions;
  for (const auto& e : c->Rest()) versions.insert(e["object"]["metadata"]["resourceVersion"]);
  EXPECT_TRUE(c->ended());
  EXPECT_LT(versions.size(), 10u);
  WaitWatchers(0);
}

TEST_F(WatchTest, ShutdownEndsWatchesCleanly) {
  Start();
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"), 200u);
  WaitWatchers(1);
  std::promise<void> drained;
  server_->Shutdown([&] { drained.set_value(); });
  auto events = c->Rest();
  EXPECT_TRUE(c->ended());
  c.reset();  // closes the connection (rather than answering the server's TLS close)
  EXPECT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
  server_.reset();
}

TEST_F(WatchTest, DiscoveryAdvertisesWatch) {
  Start();
  auto c = Client();
  ASSERT_EQ(c->Get("/apis/metrics.k8s.io/v1beta1"), 200u);
  const json doc = json::parse(c->Body());
  for (const auto& r : doc["resources"]) {
    EXPECT_EQ(r["verbs"], json::parse(R"(["get","list","watch"])"));
  }
}

}  // namespace
}  // namespace apiserver
