// Every command-line option of the server: metrics-server v0.8.0's flag set (its own flags and
// the k8s.io/apiserver and k8s.io/component-base ones it exposes, so its users can switch by
// changing the image), the ones that mean nothing here accepted without effect
// (base::FlagSet::NoEffect says why), and this server's own additions.
//
// Life cycle, as in metrics-server: AddFlags → Parse → Validate (every error at once) → the
// settings each library takes are derived from the parts (here, and in each part's own Make* or
// To* functions) → Program (program.h) wires the libraries. Not thread-safe; used once at
// start-up.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "apiserver/options.h"
#include "base/flags.h"
#include "base/log.h"
#include "exporter/options.h"
#include "kube/auth.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "scraper/options.h"

namespace cmd {

// What --version prints (metrics-server prints its Git version the same way).
inline constexpr const char* kVersion = "v" CMS_VERSION;

struct ProgramOptions {
  scraper::Options scrape;
  apiserver::Options api;
  kube::KubeOptions kube;
  base::LogOptions log;
  exporter::SinkOptions sinks;  // --sink
  bool show_version = false;    // --version: print kVersion and exit 0

  // Registers every flag on `flags`, in groups; `this` must outlive `flags`.
  void AddFlags(base::FlagSet& flags);
  // Every problem of every part, in flag order; empty = valid.
  std::vector<std::string> Validate() const;
};

// The node and pod informers' settings. Their retries follow client-go's backoff (0.8 s,
// doubling, + up to 100 % jitter) but are capped at half the resolution (within [0.8 s, 30 s])
// instead of 30 s, so that once the kube-apiserver is back after an outage the caches are listing
// and watching again within one resolution (measured in RELIABILITY.md); a handful of requests
// per resolution is no load for an apiserver.
kube::InformerOptions MakeInformerOptions(std::chrono::nanoseconds metric_resolution);

// TokenReview: allowed and denied tokens cached for --authentication-token-webhook-cache-ttl.
kube::ReviewOptions MakeTokenReviewOptions(const apiserver::Options& api);
// SubjectAccessReview: --authorization-webhook-cache-{authorized,unauthorized}-ttl.
kube::ReviewOptions MakeAccessReviewOptions(const apiserver::Options& api);

}  // namespace cmd
