#include "test/testing/fake_nodes.h"

#include <algorithm>
#include <utility>

namespace testing_support {

void FakeNodes::Add(kube::Node node) {
  auto shared = std::make_shared<const kube::Node>(std::move(node));
  base::MutexLock lock(mu_);
  nodes_.push_back(std::move(shared));
}

void FakeNodes::Remove(std::string_view name) {
  base::MutexLock lock(mu_);
  std::erase_if(nodes_, [&](const auto& node) { return node->name == name; });
}

std::vector<std::shared_ptr<const kube::Node>> FakeNodes::Nodes() const {
  base::MutexLock lock(mu_);
  return nodes_;
}

kube::Node NodeAt(std::string name, std::string internal_ip, int32_t kubelet_port) {
  kube::Node node;
  node.name = std::move(name);
  if (!internal_ip.empty()) node.addresses = {{"InternalIP", std::move(internal_ip)}};
  node.kubelet_port = kubelet_port;
  return node;
}

bool RunTick(scraper::Manager& manager, std::chrono::seconds limit) {
  // Shared with the callback, which may still be returning when this function does.
  struct Done {
    base::Mutex mu;
    base::CondVar cv;
    bool done GUARDED_BY(mu) = false;
  };
  auto state = std::make_shared<Done>();
  manager.RunTick([state] {
    base::MutexLock lock(state->mu);
    state->done = true;
    state->cv.NotifyAll();
  });
  base::MutexLock lock(state->mu);
  return state->cv.WaitFor(state->mu, limit, [&]() REQUIRES(state->mu) { return state->done; });
}

}  // namespace testing_support
