// libFuzzer target for kubeconfig parsing: any YAML yields a config or an error naming where
// it came from; nothing throws. File references resolve under a directory that does not exist,
// so the target never reads real files.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = kube::ParseKubeconfig(text, "/nonexistent-fuzz-dir", "", "fuzz");
  if (config.ok()) {
    if (config->endpoint.host.empty() || config->endpoint.port == 0) std::abort();
  } else if (config.error().rfind("fuzz", 0) != 0) {
    std::abort();  // errors name their source
  }
  return 0;
}
