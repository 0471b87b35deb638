// cpp-metrics-server: serves metrics.k8s.io from kubelet resource metrics.
// main only parses flags, validates them all at once and wires the libraries together.
#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log.h"

int main(int argc, char** argv) {
  int64_t verbosity = 0;
  std::string log_format = "text";

  base::FlagSet flags("cpp-metrics-server",
                      "cpp-metrics-server serves the Kubernetes resource metrics API "
                      "(metrics.k8s.io) from kubelet /metrics/resource.");
  flags.Group("Logging flags");
  flags.Int("v", &verbosity, "number for the log level verbosity");
  flags.String("logging-format", &log_format, "log format: text or json");

  std::vector<std::string> errors = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (auto s = base::SetupLogging(static_cast<int>(verbosity), log_format); !s.ok()) {
    errors.push_back(s.message());
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
    std::fprintf(stderr, "Run 'cpp-metrics-server --help' for usage.\n");
    return 2;
  }
  std::fprintf(stderr, "cpp-metrics-server: serving is not wired yet; see --help\n");
  return 1;
}
