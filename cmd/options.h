// Every command-line option of the server: metrics-server v0.8.0's flag set (its own flags and
// the k8s.io/apiserver and k8s.io/component-base ones it exposes, so its users can switch by
// changing the image), the ones that mean nothing here accepted without effect
// (base::FlagSet::NoEffect says why), and this server's own additions.
//
// Life cycle, as in metrics-server: AddFlags → Parse → Validate (every error at once) → main
// wires the libraries from the parts. Not thread-safe; used once at start-up.
#pragma once

#include <string>
#include <vector>

#include "apiserver/options.h"
#include "base/flags.h"
#include "base/log.h"
#include "kube/config.h"
#include "scraper/options.h"

namespace cmd {

// What --version prints (metrics-server prints its Git version the same way).
inline constexpr const char* kVersion = "v" CMS_VERSION;

struct ProgramOptions {
  scraper::Options scrape;
  apiserver::Options api;
  kube::KubeOptions kube;
  base::LogOptions log;
  bool show_version = false;  // --version: print kVersion and exit 0

  // Registers every flag on `flags`, in groups; `this` must outlive `flags`.
  void AddFlags(base::FlagSet& flags);
  // Every problem of every part, in flag order; empty = valid.
  std::vector<std::string> Validate() const;
};

}  // namespace cmd
