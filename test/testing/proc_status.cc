#include "test/testing/proc_status.h"

#include <cstdlib>
#include <fstream>
#include <string>

namespace testing_support {

long ProcStatusKiB(std::string_view field, pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

}  // namespace testing_support
