// libFuzzer target for the label and field selector parsers: whatever the input, parsing
// returns a value, a parsed selector prints to text that parses back to the same selector, and
// matching never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto labels = kube::LabelSelector::Parse(text);
  if (labels.ok()) {
    std::string printed = labels->String();
    auto again = kube::LabelSelector::Parse(printed);
    if (!again.ok() || again->String() != printed) std::abort();
    kube::Labels sample = {{"app", "web"}, {"n", "10"}, {"", ""}};
    for (const auto& r : labels->Requirements())
      sample.Set(r.key, r.values.empty() ? "" : r.values[0]);
    (void)labels->Matches(sample);
    (void)labels->Matches({});
  } else if (labels.error().empty()) {
    std::abort();  // errors explain themselves
  }
  auto fields = kube::FieldSelector::Parse(text);
  if (fields.ok()) {
    auto again = kube::FieldSelector::Parse(fields->String());
    if (!again.ok() || again->Requirements().size() != fields->Requirements().size()) std::abort();
    (void)fields->Matches([](std::string_view f) -> std::optional<std::string_view> {
      if (f == "metadata.name") return "x";
      return std::nullopt;
    });
  }
  return 0;
}
