#include "cmd/options.h"

namespace cmd {

void ProgramOptions::AddFlags(base::FlagSet& flags) {
  scrape.AddFlags(flags);
  flags.Bool("version", &show_version, "Show version and exit.");
  api.AddFlags(flags);
  flags.Group("Kubernetes API client flags");
  kube.AddFlags(flags);
  flags.Group("Logging flags");
  log.AddFlags(flags);
}

std::vector<std::string> ProgramOptions::Validate() const {
  std::vector<std::string> errors;
  for (auto part : {scrape.Validate(), api.Validate(), kube.Validate(), log.Validate()}) {
    errors.insert(errors.end(), part.begin(), part.end());
  }
  return errors;
}

}  // namespace cmd
