// Small helpers shared by the fleet binaries: flags, files, process figures.
#pragma once

#include <string>
#include <vector>

#include "base/flags.h"
#include "base/result.h"
#include "test/bench/fleet/fleet_model.h"

namespace fleet {

// Parses flags; prints usage and exits 0 on --help, prints the errors and exits 2 on bad flags.
void ParseFlagsOrExit(base::FlagSet& flags, int argc, char** argv);

// The model-size flags (--nodes, --pods, --containers, --port-base) that every fleet program
// takes, registered and checked in one place so that they mean the same to all of them.
struct FleetSizeFlags {
  int64_t nodes = 0;
  int64_t pods = 0;
  int64_t containers = 1;
  int64_t port_base = 20000;

  void Register(base::FlagSet& flags);
  // What is wrong with the values (empty when they describe a fleet that fits on the ports).
  std::vector<std::string> Problems() const;
  FleetSize Size() const;
};

base::Result<std::string> ReadFile(const std::string& path);
// Writes via a temporary file and rename, so readers see all or nothing. `mode` as for chmod.
base::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode = 0644);
bool FileExists(const std::string& path);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
long RaiseOpenFilesLimit();

// Base64 (standard alphabet, padded), for kubeconfig *-data fields.
std::string Base64(const std::string& data);

}  // namespace fleet
