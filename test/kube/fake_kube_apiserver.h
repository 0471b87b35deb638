// A test double of the kube-apiserver on a real local TLS server (127.0.0.1, port 0): nodes,
// Running pods (as PartialObjectMetadata when asked) and the authentication ConfigMap with
// paged lists and watches that replay history from a resourceVersion, TokenReview and
// SubjectAccessReview, plus switches for the faults the informers must survive (outage, 410
// Gone, clean or aborted watch ends, garbage, bookmarks).
//
// The pod collection is the "status.phase=Running" view: removing a pod or making it
// non-Running produces DELETED, as a filtered watch on a real kube-apiserver does.
//
// Objects are stored rendered (JSON text plus the fields selectors need), so hundreds of
// thousands of pods fit in a few hundred MB; BulkAdd loads them without history. Lists honour
// `limit`/`continue` and fieldSelector terms on metadata.name, metadata.namespace, spec.nodeName
// and status.phase; single objects can be read by name; /version answers. kube_standin (the
// fleet benchmarks' inventory) is this class plus a main.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "kube/config.h"
#include "test/testing/local_https_server.h"
#include "test/testing/test_pki.h"

namespace kube::fake {

class FakeKubeApiserver {
 public:
  static constexpr char kToken[] = "fake-apiserver-token";

  struct Options {
    uint16_t port = 0;            // 0 = any free port
    bool record_requests = true;  // false: targets() stays empty (long-running stand-ins)
  };

  FakeKubeApiserver();
  explicit FakeKubeApiserver(Options options);
  ~FakeKubeApiserver();

  // Connection settings for the library under test (endpoint, CA file, bearer token).
  RestConfig Config() const;
  const testing_support::TestPki& pki() const { return pki_; }
  testing_support::LocalHttpsServer& server() { return *server_; }

  // ---- state (each change gets the next resourceVersion and is sent to open watches) ----
  void UpsertNode(const std::string& name, const std::map<std::string, std::string>& labels = {},
                  int kubelet_port = 10250);
  void DeleteNode(const std::string& name);
  void UpsertPod(const std::string& ns, const std::string& name,
                 const std::map<std::string, std::string>& labels = {});
  void DeletePod(const std::string& ns, const std::string& name);
  // Replaces kube-system/extension-apiserver-authentication's data.
  void SetAuthConfigMap(const nlohmann::json& data);
  // Adds `n` pods "pod-<i>" spread over `namespaces` namespaces "ns-<j>", without history
  // (for benchmarks and big-list tests).
  void BulkAddPods(std::size_t n, std::size_t namespaces, std::size_t labels_per_pod);
  // Adds (or replaces) complete objects in "nodes", "pods" or "configmaps" without history or
  // watch events; each needs metadata.name (and metadata.namespace for pods). Rendering runs
  // outside the lock, so several threads may load batches at once.
  void BulkAdd(const std::string& collection, std::vector<nlohmann::json> objects);
  std::size_t size(const std::string& collection) const;
  uint64_t resource_version() const;

  // ---- faults ----
  // Every request is answered by a connection reset; open watches are aborted.
  void SetUnavailable(bool unavailable);
  // Forgets history: watches from an older resourceVersion get an ERROR 410 event (as the real
  // server does), continue tokens from before get a 410 status.
  void CompactHistory();
  // Sends an ERROR event with code 410 on every open watch, then ends it.
  void SendGoneToWatches();
  // Ends open watches cleanly (terminating chunk) / by closing the connection.
  void EndWatches();
  void AbortWatches();
  // Writes `raw` (should end in "\n") into every open watch.
  void PushRawToWatches(const std::string& raw);
  // Sends a BOOKMARK with the current resourceVersion on open watches that asked for them.
  void SendBookmarks();
  // The next `n` list requests get `body` with status 200 (e.g. garbage).
  void CorruptNextLists(int n, std::string body = "{\"items\": [");
  // The next `n` watch requests get this HTTP status (with a Status body).
  void FailNextWatches(int n, unsigned status);
  // Simulates a restart onto storage with another resourceVersion history (etcd restored from a
  // backup): open watches are aborted, history is forgotten and numbering goes on from `rv`
  // (lower than before). A watch from a resourceVersion newer than the current one then gets
  // 504 "Too large resource version", as the real server answers after its 3 s wait.
  void RestartWithHistoryFrom(uint64_t rv);

  // ---- reviews ----
  // Tokens the TokenReview endpoint accepts.
  void AddToken(const std::string& token, const std::string& user,
                const std::vector<std::string>& groups);
  // Decides SubjectAccessReviews from their spec. Default: allow user "alice" everything.
  using SarPolicy = std::function<nlohmann::json(const nlohmann::json& spec)>;  // returns status
  void SetSarPolicy(SarPolicy policy);
  // While set, SubjectAccessReviews are answered 500 with a Status body (the webhook failing).
  void SetAccessReviewsFailing(bool failing);
  // TokenReview then answers for `token` authenticated=false with an expiry error, as the real
  // server does for an expired service-account token.
  void ExpireToken(const std::string& token);
  // Token and access reviews are answered only after `delay` (a slow kube-apiserver).
  void SetReviewDelay(std::chrono::milliseconds delay);

  // ---- observations ----
  std::size_t open_watches(const std::string& collection) const;  // "nodes", "pods", "configmaps"
  int list_requests(const std::string& collection) const;
  int watch_requests(const std::string& collection) const;
  int token_reviews() const { return token_reviews_.load(); }
  int access_reviews() const { return access_reviews_.load(); }
  std::vector<std::string> targets() const;  // request targets seen, in order

 private:
  // The fields a fieldSelector can name.
  struct Fields {
    std::string name, ns, node_name, phase;
  };
  // A stored object: its JSON text; `metadata` is json.substr(meta_begin, meta_size).
  struct Item {
    std::string json;
    std::size_t meta_begin = 0, meta_size = 0;
    Fields fields;
  };
  struct Watch {
    std::shared_ptr<testing_support::ChunkFeed> feed;
    bool bookmarks = false;
    bool metadata_only = false;
    std::string field_selector;
  };
  struct Event {
    uint64_t rv;
    std::string type;
    nlohmann::json object;
  };
  struct Collection {
    std::string name;  // "nodes", "pods", "configmaps"
    std::map<std::string, Item> items;
    std::vector<Event> history;
    std::vector<Watch> watches;
    int lists = 0;
    int watch_count = 0;
  };

  testing_support::Reply Handle(const testing_support::SeenRequest& req);
  // List, Get, StartWatch and Change run under mu_ (`c` is one of the collections).
  testing_support::Reply List(Collection& c, const std::map<std::string, std::string>& q,
                              bool metadata_only, const std::string& ns) REQUIRES(mu_);
  testing_support::Reply Get(Collection& c, const std::string& key, bool metadata_only)
      REQUIRES(mu_);
  Collection* Find(const std::string& name);
  static Item Render(const nlohmann::json& object);
  static Fields FieldsOf(const nlohmann::json& object);
  // Whether `f` satisfies a fieldSelector ("a=b,c!=d"); unsupported fields make `error` set.
  static bool Matches(const std::string& selector, const Fields& f, std::string* error = nullptr);
  testing_support::Reply StartWatch(Collection& c, const std::map<std::string, std::string>& q,
                                    bool metadata_only) REQUIRES(mu_);
  testing_support::Reply TokenReview(const std::string& body);
  testing_support::Reply AccessReview(const std::string& body);
  void Change(Collection& c, const std::string& key, const std::string& type, nlohmann::json object)
      REQUIRES(mu_);
  static std::string EventLine(const std::string& type, const nlohmann::json& object,
                               bool metadata_only);
  static bool Selected(const Watch& w, const nlohmann::json& object);

  testing_support::TestPki pki_;
  mutable base::Mutex mu_;
  // Every request's "METHOD target", recorded as Handle() starts, under mu_: a test that saw a
  // counter move (watch_requests, open_watches) finds the request that moved it here too. The
  // server's own record comes only after the handler returns.
  const bool record_targets_;
  std::vector<std::string> targets_ GUARDED_BY(mu_);
  uint64_t rv_ GUARDED_BY(mu_) = 100;
  uint64_t compacted_ GUARDED_BY(mu_) = 0;
  Collection nodes_ GUARDED_BY(mu_);
  Collection pods_ GUARDED_BY(mu_);
  Collection configmaps_ GUARDED_BY(mu_);
  int corrupt_lists_ GUARDED_BY(mu_) = 0;
  std::string corrupt_body_ GUARDED_BY(mu_);
  int fail_watches_ GUARDED_BY(mu_) = 0;
  unsigned fail_watch_status_ GUARDED_BY(mu_) = 0;
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> tokens_ GUARDED_BY(mu_);
  std::map<std::string, bool> expired_tokens_ GUARDED_BY(mu_);
  bool access_reviews_failing_ GUARDED_BY(mu_) = false;
  std::chrono::milliseconds review_delay_ GUARDED_BY(mu_){0};
  SarPolicy sar_policy_ GUARDED_BY(mu_);
  std::atomic<bool> unavailable_{false};
  std::atomic<int> token_reviews_{0};
  std::atomic<int> access_reviews_{0};
  std::unique_ptr<testing_support::LocalHttpsServer> server_;
};

}  // namespace kube::fake
