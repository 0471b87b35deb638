// The scraper's input: the nodes to scrape. The Kubernetes-API node cache is adapted to this in
// main (applying --node-selector there); tests use a fake.
#pragma once

#include <memory>
#include <vector>

#include "kube/objects.h"

namespace scraper {

class NodeSource {
 public:
  virtual ~NodeSource() = default;
  // The nodes to scrape now (already filtered by the node selector). Called once per tick from
  // the scraper's thread; must be thread-safe and must not block on the network.
  virtual std::vector<std::shared_ptr<const kube::Node>> Nodes() const = 0;
};

}  // namespace scraper
