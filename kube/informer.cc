#include "kube/informer.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include "kube/client.h"
#include "kube/decode.h"
#include "kube/reflector.h"

namespace kube {
namespace {

using internal::Reflector;
template <typename T>
class InformerImpl final : public Informer {
 public:
  explicit InformerImpl(std::shared_ptr<Reflector<T>> r) : r_(std::move(r)) {}
  ~InformerImpl() override { r_->Stop(); }
  void Start() override { r_->Start(); }
  void Stop() override { r_->Stop(); }
  bool HasSynced() const override { return r_->HasSynced(); }
  InformerStats Stats() const override { return r_->Stats(); }

 private:
  std::shared_ptr<Reflector<T>> r_;
};

}  // namespace

std::unique_ptr<Informer> NewNodeInformer(ApiClient& client, NodeCache& cache,
                                          const base::Clock& clock, InformerOptions options,
                                          Scheduler* scheduler, JitterSource jitter) {
  return std::make_unique<InformerImpl<Node>>(std::make_shared<Reflector<Node>>(
      client, cache, clock, std::move(options), scheduler, std::move(jitter)));
}

std::unique_ptr<Informer> NewPodInformer(ApiClient& client, PodCache& cache,
                                         const base::Clock& clock, InformerOptions options,
                                         Scheduler* scheduler, JitterSource jitter) {
  return std::make_unique<InformerImpl<Pod>>(std::make_shared<Reflector<Pod>>(
      client, cache, clock, std::move(options), scheduler, std::move(jitter)));
}

std::unique_ptr<Informer> NewPodResourcesInformer(ApiClient& client, PodResourcesCache& cache,
                                                  const base::Clock& clock, InformerOptions options,
                                                  Scheduler* scheduler, JitterSource jitter) {
  return std::make_unique<InformerImpl<PodResources>>(std::make_shared<Reflector<PodResources>>(
      client, cache, clock, std::move(options), scheduler, std::move(jitter)));
}

bool WaitForCacheSync(const std::vector<const Informer*>& informers,
                      std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    for (const Informer* i : informers) all = all && i->HasSynced();
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace kube
