// The delimited protobuf exposition (prometheus/client_model io/prometheus/client/metrics.proto,
// each MetricFamily preceded by its length as a varint) written from a text exposition, byte
// for byte as a kubelet's promhttp handler writes it when it negotiates protobuf: families
// sorted by name, fields in field-number order, series and labels in the order of the text.
// For the simulated kubelets, benchmarks and tests; checked against the Go encoder's output
// (test/fuzz/corpus/kubelet_protobuf, made by test/scraper/prom2pb).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace testing_support {

// Appends the protobuf form of `text` (counters, gauges and untyped samples, with HELP, TYPE,
// label escapes and optional timestamps; the text as Go's encoder prints it) to `out`. False,
// with `out` unspecified, on a line it does not read (histograms and summaries among them).
bool AppendAsDelimitedProtobuf(std::string_view text, std::string* out);

// The protobuf wire pieces, for tests that build malformed messages by hand.
void AppendVarint(uint64_t value, std::string* out);
void AppendTag(uint32_t field, uint32_t wire_type, std::string* out);
void AppendLengthDelimited(uint32_t field, std::string_view bytes, std::string* out);
void AppendDouble(uint32_t field, double value, std::string* out);

}  // namespace testing_support
