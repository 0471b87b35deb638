// What tests and benchmarks of the scraper share: FakeNodes, a scraper::NodeSource the test
// fills, and RunTick, which runs one tick of a Manager to its end.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "kube/objects.h"
#include "scraper/manager.h"
#include "scraper/node_source.h"

namespace testing_support {

// The nodes to scrape, as the test adds and removes them (in the order added).
// Thread-safe: Nodes() may run on the scraper's threads while the test adds or removes.
class FakeNodes final : public scraper::NodeSource {
 public:
  void Add(kube::Node node);
  // Removes every node named `name`.
  void Remove(std::string_view name);
  std::vector<std::shared_ptr<const kube::Node>> Nodes() const override;

 private:
  mutable base::Mutex mu_;
  std::vector<std::shared_ptr<const kube::Node>> nodes_ GUARDED_BY(mu_);
};

// A node named `name` with one address, InternalIP `internal_ip` (none when empty), and
// `kubelet_port` as its daemon endpoint (0 = unset).
kube::Node NodeAt(std::string name, std::string internal_ip, int32_t kubelet_port = 0);

// Runs one tick of `manager` (on its own io threads) and waits for its end; false if it has not
// ended after `limit`. Call from a thread that does not run the manager's io_context.
bool RunTick(scraper::Manager& manager, std::chrono::seconds limit);

}  // namespace testing_support
