#include "cmd/options.h"

#include <algorithm>

namespace cmd {

void ProgramOptions::AddFlags(base::FlagSet& flags) {
  scrape.AddFlags(flags);
  flags.Bool("version", &show_version, "Show version and exit.");
  api.AddFlags(flags);
  flags.Group("Kubernetes API client flags");
  kube.AddFlags(flags);
  flags.Group("Logging flags");
  log.AddFlags(flags);
  flags.Group("Export flags");
  sinks.AddFlags(flags);
}

std::vector<std::string> ProgramOptions::Validate() const {
  std::vector<std::string> errors;
  for (auto part :
       {scrape.Validate(), api.Validate(), kube.Validate(), log.Validate(), sinks.Validate()}) {
    errors.insert(errors.end(), part.begin(), part.end());
  }
  return errors;
}

kube::InformerOptions MakeInformerOptions(std::chrono::nanoseconds metric_resolution) {
  kube::InformerOptions options;
  options.backoff.max =
      std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(metric_resolution / 2),
                 options.backoff.initial, kube::kMaxBackoff);
  return options;
}

kube::ReviewOptions MakeTokenReviewOptions(const apiserver::Options& api) {
  kube::ReviewOptions options;
  options.cache.allowed_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api.authentication_token_webhook_cache_ttl);
  options.cache.denied_ttl = options.cache.allowed_ttl;
  return options;
}

kube::ReviewOptions MakeAccessReviewOptions(const apiserver::Options& api) {
  kube::ReviewOptions options;
  options.cache.allowed_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api.authorization_webhook_cache_authorized_ttl);
  options.cache.denied_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      api.authorization_webhook_cache_unauthorized_ttl);
  return options;
}

}  // namespace cmd
