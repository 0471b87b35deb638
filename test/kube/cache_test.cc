#include "kube/cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>

namespace kube {
namespace {

Pod MakePod(std::string ns, std::string name, Labels labels = {}) {
  Pod p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.labels = std::move(labels);
  return p;
}

Node MakeNode(std::string name, Labels labels = {}) {
  Node n;
  n.name = std::move(name);
  n.labels = std::move(labels);
  return n;
}

std::vector<std::string> Names(const std::vector<std::shared_ptr<const Pod>>& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) out.push_back(p->namespace_.str() + "/" + p->name.str());
  return out;
}

LabelSelector Sel(std::string_view s) { return LabelSelector::Parse(s).value(); }

TEST(PodCacheTest, ReplaceListsSortedAndMarksSynced) {
  PodCache cache;
  EXPECT_FALSE(cache.HasSynced());
  EXPECT_EQ(cache.Get("default", "a"), nullptr);
  cache.Replace({MakePod("ns-b", "z"), MakePod("default", "b", {{"app", "web"}}),
                 MakePod("default", "a", {{"app", "db"}}), MakePod("ns-b", "a")});
  EXPECT_TRUE(cache.HasSynced());
  EXPECT_EQ(cache.Size(), 4u);
  EXPECT_EQ(Names(cache.List("")),
            (std::vector<std::string>{"default/a", "default/b", "ns-b/a", "ns-b/z"}));
  EXPECT_EQ(Names(cache.List("ns-b")), (std::vector<std::string>{"ns-b/a", "ns-b/z"}));
  EXPECT_EQ(Names(cache.List("missing")), std::vector<std::string>{});
  EXPECT_EQ(Names(cache.List("", Sel("app"))),
            (std::vector<std::string>{"default/a", "default/b"}));
  EXPECT_EQ(Names(cache.List("default", Sel("app!=db"))), (std::vector<std::string>{"default/b"}));
  auto p = cache.Get("default", "b");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->labels.at("app"), "web");
  EXPECT_EQ(cache.Get("default", "z"), nullptr);
}

// The cache marks the pods whose namespace, name and labels JSON writes verbatim (Pod::plain,
// which lets the API copy them without scanning): any other byte in any of them unmarks it.
TEST(PodCacheTest, MarksPodsWhoseStringsNeedNoEscaping) {
  EXPECT_TRUE(IsPlainText("web-7d9f8c6b5-x2x4q"));
  EXPECT_TRUE(IsPlainText(" !#$%'()*+,-./09:;=?@AZ[]^_`az{|}~"));
  EXPECT_TRUE(IsPlainText(""));
  for (int c = 0; c < 256; ++c) {
    const bool printable = c >= 0x20 && c <= 0x7e;
    const bool special = c == '"' || c == '\\' || c == '<' || c == '>' || c == '&';
    EXPECT_EQ(IsPlainText(std::string("a") + static_cast<char>(c) + "b"), printable && !special)
        << "byte " << c;
  }
  PodCache cache;
  cache.Replace({MakePod("default", "plain", {{"app", "web"}, {"app.kubernetes.io/name", "w"}}),
                 MakePod("default", "quote\"name"), MakePod("ns\xc3\xa9", "utf8-namespace"),
                 MakePod("default", "key", {{"a<b", "v"}}),
                 MakePod("default", "value", {{"app", "web"}, {"k", "line\nbreak"}})});
  EXPECT_TRUE(cache.Get("default", "plain")->plain);
  EXPECT_FALSE(cache.Get("default", "quote\"name")->plain);
  EXPECT_FALSE(cache.Get("ns\xc3\xa9", "utf8-namespace")->plain);
  EXPECT_FALSE(cache.Get("default", "key")->plain);
  EXPECT_FALSE(cache.Get("default", "value")->plain);
  Pod flagged = MakePod("default", "upserted", {{"v", "a&b"}});
  flagged.plain = true;  // whatever the caller said: the cache decides
  cache.Upsert(std::move(flagged));
  EXPECT_FALSE(cache.Get("default", "upserted")->plain);
  cache.Upsert(MakePod("default", "upserted", {{"v", "ab"}}));
  EXPECT_TRUE(cache.Get("default", "upserted")->plain);
}

TEST(PodCacheTest, ReplaceDropsWhatIsGoneAndKeepsLastDuplicate) {
  PodCache cache;
  cache.Replace({MakePod("a", "1"), MakePod("a", "2")});
  auto held = cache.Get("a", "1");
  cache.Replace({MakePod("a", "2", {{"v", "1"}}), MakePod("a", "2", {{"v", "2"}})});
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.Get("a", "1"), nullptr);
  ASSERT_NE(held, nullptr);  // a reader keeps what it got
  EXPECT_EQ(held->name, "1");
  EXPECT_EQ(cache.Get("a", "2")->labels.at("v"), "2");
  cache.Replace({});
  EXPECT_EQ(cache.Size(), 0u);
  EXPECT_TRUE(cache.HasSynced());
}

TEST(PodCacheTest, UpsertAndRemove) {
  PodCache cache;
  uint64_t g0 = cache.Generation();
  cache.Upsert(MakePod("ns", "p", {{"v", "1"}}));
  EXPECT_GT(cache.Generation(), g0);
  EXPECT_FALSE(cache.HasSynced());  // only a full list syncs
  cache.Upsert(MakePod("ns", "p", {{"v", "2"}}));
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.Get("ns", "p")->labels.at("v"), "2");
  // Lookups still work after the object behind the key was replaced (keys view object names).
  EXPECT_EQ(Names(cache.List("ns")), std::vector<std::string>{"ns/p"});
  cache.Remove("ns", "missing");
  cache.Remove("other", "p");
  EXPECT_EQ(cache.Size(), 1u);
  uint64_t g1 = cache.Generation();
  cache.Remove("ns", "p");
  EXPECT_GT(cache.Generation(), g1);
  EXPECT_EQ(cache.Size(), 0u);
  EXPECT_EQ(cache.Get("ns", "p"), nullptr);
  EXPECT_TRUE(cache.List("").empty());
}

// Random upserts, removals and replacements against a model: the cache holds what the model
// holds, listed by namespace then name, whatever order the changes came in.
TEST(PodCacheTest, MatchesAModelUnderRandomChanges) {
  PodCache cache;
  std::map<std::pair<std::string, std::string>, std::string> model;  // (ns, name) -> label v
  uint64_t seed = 12345;
  auto next = [&](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  auto check = [&] {
    std::vector<std::string> want;
    for (const auto& [key, v] : model) want.push_back(key.first + "/" + key.second);
    ASSERT_EQ(Names(cache.List("")), want);
    ASSERT_EQ(cache.Size(), model.size());
    for (const auto& [key, v] : model) {
      auto p = cache.Get(key.first, key.second);
      ASSERT_NE(p, nullptr) << key.first << "/" << key.second;
      ASSERT_EQ(p->labels.at("v"), v);
    }
    std::vector<std::string> in_ns1;
    for (const auto& [key, v] : model) {
      if (key.first == "ns1") in_ns1.push_back("ns1/" + key.second);
    }
    ASSERT_EQ(Names(cache.List("ns1")), in_ns1);
  };
  for (int step = 0; step < 3000; ++step) {
    const std::string ns = "ns" + std::to_string(next(3));
    const std::string name = "p" + std::to_string(next(40));
    const std::string v = std::to_string(step);
    const uint64_t op = next(100);
    if (op < 60) {
      cache.Upsert(MakePod(ns, name, {{"v", v}}));
      model[{ns, name}] = v;
    } else if (op < 98) {
      cache.Remove(ns, name);
      model.erase({ns, name});
    } else {
      // A full list, with duplicates (the last one wins) in no particular order.
      std::vector<Pod> pods;
      model.clear();
      for (int i = 0; i < 30; ++i) {
        const std::string lns = "ns" + std::to_string(next(3));
        const std::string lname = "p" + std::to_string(next(40));
        const std::string lv = v + "." + std::to_string(i);
        pods.push_back(MakePod(lns, lname, {{"v", lv}}));
        model[{lns, lname}] = lv;
      }
      cache.Replace(std::move(pods));
    }
    if (step % 10 == 0) check();
  }
  check();
}

TEST(PodCacheTest, PodsWithEqualLabelsShareOneBuffer) {
  PodCache cache;
  cache.Replace({MakePod("default", "web-1", {{"app", "web"}, {"hash", "1"}}),
                 MakePod("default", "web-2", {{"app", "web"}, {"hash", "1"}}),
                 MakePod("default", "db-1", {{"app", "db"}})});
  auto web1 = cache.Get("default", "web-1");
  auto web2 = cache.Get("default", "web-2");
  auto db1 = cache.Get("default", "db-1");
  EXPECT_TRUE(web2->labels.SharesBufferWith(web1->labels));
  EXPECT_FALSE(db1->labels.SharesBufferWith(web1->labels));
  // Added later, and in another namespace: the same buffer.
  cache.Upsert(MakePod("other", "web-3", {{"app", "web"}, {"hash", "1"}}));
  auto web3 = cache.Get("other", "web-3");
  EXPECT_TRUE(web3->labels.SharesBufferWith(web1->labels));
  EXPECT_EQ(web3->labels.at("hash"), "1");
  // Many pods with sets of their own come and go; the ones still cached keep theirs intact.
  for (int i = 0; i < 500; ++i) {
    cache.Upsert(MakePod("churn", "p" + std::to_string(i), {{"i", std::to_string(i)}}));
    if (i % 2 == 0) cache.Remove("churn", "p" + std::to_string(i));
  }
  for (int i = 1; i < 500; i += 2) {
    auto p = cache.Get("churn", "p" + std::to_string(i));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->labels.at("i"), std::to_string(i));
  }
  auto web4 = MakePod("default", "web-4", {{"app", "web"}, {"hash", "1"}});
  cache.Upsert(std::move(web4));
  EXPECT_TRUE(cache.Get("default", "web-4")->labels.SharesBufferWith(web1->labels));
}

TEST(PodCacheTest, PodsOfANamespaceShareItsName) {
  PodCache cache;
  cache.Replace({MakePod("default", "a"), MakePod("default", "b"), MakePod("other", "c")});
  auto a = cache.Get("default", "a");
  auto b = cache.Get("default", "b");
  auto c = cache.Get("other", "c");
  EXPECT_TRUE(b->namespace_.SharesBufferWith(a->namespace_));
  EXPECT_FALSE(c->namespace_.SharesBufferWith(a->namespace_));
  EXPECT_EQ(c->namespace_, "other");
  // Added later, from a string of its own: given the namespace's buffer.
  cache.Upsert(MakePod(std::string("defaul") + "t", "d"));
  auto d = cache.Get("default", "d");
  EXPECT_TRUE(d->namespace_.SharesBufferWith(a->namespace_));
  EXPECT_EQ(d->name, "d");
  // A namespace emptied and filled again still finds and shares its (new) key.
  cache.Remove("other", "c");
  cache.Upsert(MakePod("other", "e"));
  cache.Upsert(MakePod("other", "f"));
  EXPECT_TRUE(
      cache.Get("other", "f")->namespace_.SharesBufferWith(cache.Get("other", "e")->namespace_));
  EXPECT_EQ(cache.List("other").size(), 2u);
}

TEST(PodCacheTest, ForEachVisitsInListOrder) {
  PodCache cache;
  cache.Replace({MakePod("b", "1"), MakePod("a", "2"), MakePod("a", "1")});
  std::vector<std::string> seen;
  cache.ForEach("", LabelSelector(), [&](const std::shared_ptr<const Pod>& p) {
    seen.push_back(p->namespace_.str() + "/" + p->name.str());
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1", "a/2", "b/1"}));
}

TEST(PodCacheTest, ConcurrentReadersAndWriter) {
  PodCache cache;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      cache.Upsert(MakePod("ns" + std::to_string(i % 7), "p" + std::to_string(i % 50)));
      if (i % 3 == 0) cache.Remove("ns" + std::to_string(i % 7), "p" + std::to_string(i % 50));
      if (i % 500 == 0) cache.Replace({MakePod("ns0", "p0")});
    }
    stop = true;
  });
  std::size_t reads = 0;
  while (!stop) {
    for (const auto& p : cache.List("")) {
      ASSERT_FALSE(p->name.empty());
      ++reads;
    }
    cache.Get("ns1", "p1");
  }
  writer.join();
  // Whatever interleaving happened, the index is consistent with Size().
  EXPECT_EQ(cache.List("").size(), cache.Size());
  (void)reads;
}

TEST(NodeCacheTest, GetListUpsertRemove) {
  NodeCache cache;
  EXPECT_FALSE(cache.HasSynced());
  cache.Replace({MakeNode("n2", {{"zone", "b"}}), MakeNode("n1", {{"zone", "a"}}), MakeNode("n3")});
  EXPECT_TRUE(cache.HasSynced());
  auto all = cache.List();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->name, "n1");
  EXPECT_EQ(all[2]->name, "n3");
  auto zoned = cache.List(Sel("zone in (a,b)"));
  ASSERT_EQ(zoned.size(), 2u);
  EXPECT_EQ(zoned[1]->name, "n2");
  cache.Upsert(MakeNode("n1", {{"zone", "c"}}));
  EXPECT_EQ(cache.Get("n1")->labels.at("zone"), "c");
  EXPECT_EQ(cache.List(Sel("zone=a")).size(), 0u);
  cache.Remove("n1");
  cache.Remove("n1");
  EXPECT_EQ(cache.Get("n1"), nullptr);
  EXPECT_EQ(cache.Size(), 2u);
  cache.Replace({MakeNode("x"), MakeNode("x")});
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.Get("x")->name, "x");
}

}  // namespace
}  // namespace kube
