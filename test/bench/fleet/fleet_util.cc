#include "test/bench/fleet/fleet_util.h"

#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fleet {

void ParseFlagsOrExit(base::FlagSet& flags, int argc, char** argv) {
  auto errors = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    std::exit(0);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::exit(2);
  }
}

base::Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

base::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out.flush()) return base::Status::Error("cannot write " + tmp);
  }
  chmod(tmp.c_str(), static_cast<mode_t>(mode));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return base::Status::Error("cannot rename " + tmp + " to " + path + ": " +
                               std::strerror(errno));
  }
  return base::Status::Ok();
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

long RaiseOpenFilesLimit() {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
  }
  return static_cast<long>(files.rlim_cur);
}

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

void FleetSizeFlags::Register(base::FlagSet& flags) {
  flags.Int("nodes", &nodes, "Number of nodes N.");
  flags.Int("pods", &pods, "Pods per node P.");
  flags.Int("containers", &containers, "Containers per pod C.");
  flags.Int("port-base", &port_base, "Node i's kubelet listens on port-base + i.");
}

std::vector<std::string> FleetSizeFlags::Problems() const {
  std::vector<std::string> bad;
  if (nodes < 0) bad.push_back("--nodes must be >= 0");
  if (pods < 0 || pods > 100000) bad.push_back("--pods must be between 0 and 100000");
  if (containers < 1 || containers > 100) bad.push_back("--containers must be between 1 and 100");
  if (port_base < 1 || port_base + nodes > 65536) {
    bad.push_back("--port-base must be >= 1 and port-base + nodes <= 65536");
  }
  return bad;
}

FleetSize FleetSizeFlags::Size() const {
  return {static_cast<int>(nodes), static_cast<int>(pods), static_cast<int>(containers),
          static_cast<int>(port_base)};
}

}  // namespace fleet
