// libFuzzer target for what the kube-apiserver sends: the input is fed as a watch stream
// (split into lines with a small event limit) and each line decoded as pod, node and raw
// events; the whole input is also decoded as lists, a ConfigMap and review responses. Nothing
// may crash or throw.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/auth.h"
#include "kube/authentication_config.h"
#include "kube/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kube::LineSplitter splitter(4096);
  // Feed in two uneven pieces to exercise reassembly.
  std::size_t cut = size / 3;
  for (std::string_view piece : {text.substr(0, cut), text.substr(cut)}) {
    (void)splitter.Feed(piece, [](std::string_view line) {
      auto pod = kube::DecodePodWatchEvent(line);
      if (pod.ok() && pod->type != kube::WatchEventType::kBookmark &&
          pod->type != kube::WatchEventType::kError &&
          (pod->object.name.empty() || pod->object.namespace_.empty())) {
        std::abort();
      }
      (void)kube::DecodeNodeWatchEvent(line);
      (void)kube::DecodeRawWatchEvent(line);
      return base::Status::Ok();
    });
  }
  (void)kube::DecodeNodeList(text);
  (void)kube::DecodePodMetadataList(text);
  (void)kube::DecodeRawList(text);
  (void)kube::ParseAuthenticationConfigMap(text);
  (void)kube::DecodeTokenReview(text);
  (void)kube::DecodeSubjectAccessReview(text);
  (void)kube::ParseQuantity(text.substr(0, 70), true);
  return 0;
}
