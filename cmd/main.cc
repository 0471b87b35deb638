// cpp-metrics-server: serves metrics.k8s.io from kubelet resource metrics.
//
// main only wires, as metrics-server's cmd/ does: options → validate (every error at once) →
// assemble (cmd/program.h) → run until the shutdown sequence ends. `cpp-metrics-server doctor
// ...` runs the read-only diagnosis instead (doctor/doctor.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/allocator.h"
#include "base/flags.h"
#include "base/log.h"
#include "cmd/options.h"
#include "cmd/program.h"
#include "doctor/doctor.h"
#include "scraper/options.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "doctor") return doctor::Main(argc - 1, argv + 1);
  // Before any thread or large block (base/allocator.h).
  const base::MmapThreshold mmap_threshold = base::SetMallocMmapThreshold();
  cmd::ProgramOptions options;
  base::FlagSet flags(
      "cpp-metrics-server",
      "cpp-metrics-server serves the Kubernetes resource metrics API "
      "(metrics.k8s.io) from kubelet /metrics/resource. `cpp-metrics-server doctor --help`: the "
      "read-only diagnosis of an install.");
  options.AddFlags(flags);

  std::vector<std::string> errors = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (errors.empty() && options.show_version) {
    std::printf("%s\n", cmd::kVersion);
    return 0;
  }
  for (auto& e : options.Validate()) errors.push_back(e);
  auto manager_settings = scraper::MakeManagerSettings(options.scrape);
  if (!manager_settings.ok() &&
      std::find(errors.begin(), errors.end(), manager_settings.error()) == errors.end()) {
    errors.push_back(manager_settings.error());
  }
  if (errors.empty()) {
    if (auto s = base::SetupLogging(static_cast<int>(options.log.verbosity), options.log.format);
        !s.ok()) {
      errors.push_back(s.message());
    }
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
    std::fprintf(stderr, "Run 'cpp-metrics-server --help' for usage.\n");
    return 2;
  }
  if (auto ignored = flags.IneffectiveFlags(); !ignored.empty()) {
    std::string list;
    for (const auto& f : ignored) list += (list.empty() ? "" : ", ") + f;
    spdlog::warn("flags accepted for compatibility with metrics-server but without effect here: {}",
                 list);
  }

  if (mmap_threshold == base::MmapThreshold::kLeftToOperator) {
    spdlog::info(
        "glibc's malloc mmap threshold is left as MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES set it");
  }
  auto program = cmd::Program::Create(options, std::move(manager_settings).value());
  if (!program.ok()) {
    spdlog::critical("{}", program.error());
    return 1;
  }
  return (*program)->Run();
}
