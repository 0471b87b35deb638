// The delimited protobuf exposition of /metrics/resource: the decoder against the text parser
// on bodies the Go encoder wrote (test/fuzz/corpus/kubelet_protobuf, from the text seeds beside
// them by test/scraper/prom2pb), hand-built messages for each field and wire type, and every way
// a body can be cut short or lie about a length.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>

#include "scraper/resource_metrics.h"
#include "test/testing/exposition_protobuf.h"
#include "test/testing/kubelet_payload.h"

namespace scraper {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_support::AppendDouble;
using testing_support::AppendLengthDelimited;
using testing_support::AppendTag;
using testing_support::AppendVarint;

constexpr base::UnixNanos kScrapeTime = 1'700'000'000'123'000'000;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string Corpus(const char* dir, const std::string& name) {
  return ReadFile(std::filesystem::path(KUBELET_CORPUS_DIR) / dir / name);
}

// Field numbers of metrics.proto.
std::string Label(std::string_view name, std::string_view value) {
  std::string pair;
  AppendLengthDelimited(1, name, &pair);
  AppendLengthDelimited(2, value, &pair);
  return pair;
}
std::string Value(double v) {
  std::string m;
  AppendDouble(1, v, &m);
  return m;
}
// A Metric: labels (namespace, pod, container when given), a value in `kind` (2 gauge,
// 3 counter, 5 untyped) and a timestamp when ms != 0.
std::string MetricMessage(uint32_t kind, double v, int64_t ms, std::string_view ns = "",
                          std::string_view pod = "", std::string_view container = "") {
  std::string m;
  if (!container.empty()) AppendLengthDelimited(1, Label("container", container), &m);
  if (!ns.empty()) AppendLengthDelimited(1, Label("namespace", ns), &m);
  if (!pod.empty()) AppendLengthDelimited(1, Label("pod", pod), &m);
  AppendLengthDelimited(kind, Value(v), &m);
  if (ms != 0) {
    AppendTag(6, 0, &m);
    AppendVarint(static_cast<uint64_t>(ms), &m);
  }
  return m;
}
std::string FamilyMessage(std::string_view name, uint64_t type,
                          const std::vector<std::string>& metrics) {
  std::string f;
  AppendLengthDelimited(1, name, &f);
  AppendTag(3, 0, &f);
  AppendVarint(type, &f);
  for (const auto& m : metrics) AppendLengthDelimited(4, m, &f);
  return f;
}
void AppendDelimited(std::string_view message, std::string* body) {
  AppendVarint(message.size(), body);
  body->append(message);
}

ResourceMetrics MustParse(std::string_view body) {
  ResourceMetrics out;
  base::Status s = ParseResourceMetricsProtobuf(body, kScrapeTime, &out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}
std::string ParseError(std::string_view body) {
  ResourceMetrics out;
  base::Status s = ParseResourceMetricsProtobuf(body, kScrapeTime, &out);
  EXPECT_FALSE(s.ok());
  return s.message();
}

void ExpectSameUsage(const ResourceUsage& a, const ResourceUsage& b) {
  EXPECT_EQ(a.has_cpu, b.has_cpu);
  EXPECT_EQ(a.has_memory, b.has_memory);
  EXPECT_EQ(a.has_swap, b.has_swap);
  EXPECT_EQ(a.cpu_timestamp, b.cpu_timestamp);
  EXPECT_EQ(a.memory_timestamp, b.memory_timestamp);
  EXPECT_EQ(a.cpu_ns, b.cpu_ns);
  EXPECT_EQ(a.memory_bytes, b.memory_bytes);
  EXPECT_EQ(a.swap_bytes, b.swap_bytes);
}
void ExpectSame(const ResourceMetrics& a, const ResourceMetrics& b) {
  ExpectSameUsage(a.node, b.node);
  EXPECT_EQ(a.scrape_error, b.scrape_error);
  EXPECT_EQ(a.ignored_samples, b.ignored_samples);
  ASSERT_EQ(a.containers.size(), b.containers.size());
  for (size_t i = 0; i < a.containers.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a.containers[i].namespace_, b.containers[i].namespace_);
    EXPECT_EQ(a.containers[i].pod, b.containers[i].pod);
    EXPECT_EQ(a.containers[i].container, b.containers[i].container);
    EXPECT_EQ(a.containers[i].start_time, b.containers[i].start_time);
    ExpectSameUsage(a.containers[i], b.containers[i]);
  }
}

// The Go encoder's output beside the text it came from: the decoder reads what the text parser
// reads, and the C++ encoder the simulated kubelets use writes the same bytes as Go.
TEST(ResourceMetricsProtobuf, SameAsTextOnGoEncodedBodies) {
  const std::set<std::string> kKubeletForm = {"kubelet_v1_36_3_containerd_1_6_cgroup_v1",
                                              "upstream_exposition",
                                              "realistic_kubelet",
                                              "swap_families",
                                              "no_timestamps_kwok",
                                              "restart_decrease",
                                              "scrape_error"};
  int compared = 0;
  size_t encoded_same = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(KUBELET_CORPUS_DIR) / "kubelet_protobuf")) {
    if (entry.path().extension() != ".pb") continue;
    const std::string stem = entry.path().stem().string();
    SCOPED_TRACE(stem);
    const std::string pb = ReadFile(entry.path());
    const std::string text = Corpus("kubelet_text", stem + ".txt");
    if (text.empty()) continue;
    ResourceMetrics from_text, from_pb;
    base::Status text_status = ParseResourceMetrics(text, kScrapeTime, &from_text);
    base::Status pb_status = ParseResourceMetricsProtobuf(pb, kScrapeTime, &from_pb);
    ASSERT_EQ(text_status.ok(), pb_status.ok())
        << text_status.message() << " / " << pb_status.message();
    if (text_status.ok()) {
      ExpectSame(from_pb, from_text);
    } else {
      // The same complaint, located by family instead of by line.
      EXPECT_THAT(pb_status.message(), StartsWith("family "));
      EXPECT_EQ(pb_status.message().substr(pb_status.message().find(": ")),
                text_status.message().substr(text_status.message().find(": ")));
    }
    // The text as kubelets print it (single spaces, no NaN: Go's NaN has other bits).
    std::string encoded;
    if (kKubeletForm.count(stem) != 0) {
      ASSERT_TRUE(testing_support::AppendAsDelimitedProtobuf(text, &encoded));
      EXPECT_EQ(encoded, pb) << "the C++ encoder differs from Go's";
      ++encoded_same;
    }
    ++compared;
  }
  EXPECT_GE(compared, 10);
  EXPECT_EQ(encoded_same, kKubeletForm.size());
}

TEST(ResourceMetricsProtobuf, RealKubeletBody) {
  ResourceMetrics m =
      MustParse(Corpus("kubelet_protobuf", "kubelet_v1_36_3_containerd_1_6_cgroup_v1.pb"));
  EXPECT_TRUE(m.node.has_cpu);
  EXPECT_TRUE(m.node.has_memory);
  EXPECT_FALSE(m.containers.empty());
  EXPECT_FALSE(m.scrape_error);
}

TEST(ResourceMetricsProtobuf, CountersGaugesLabelsTimestamps) {
  std::string body;
  AppendDelimited(FamilyMessage("container_cpu_usage_seconds_total", 0,
                                {MetricMessage(3, 4.5, 1633253812125, "ns", "pod-a", "c1"),
                                 MetricMessage(3, 1.25, 0, "ns", "pod-b", "c1")}),
                  &body);
  AppendDelimited(
      FamilyMessage("container_memory_working_set_bytes", 1,
                    {MetricMessage(2, 1.253376e+07, 1633253812126, "ns", "pod-a", "c1")}),
      &body);
  AppendDelimited(FamilyMessage("container_start_time_seconds", 1,
                                {MetricMessage(2, 1.633252712e+09, 0, "ns", "pod-a", "c1")}),
                  &body);
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0,
                                {MetricMessage(3, 357.35491, 1633253809720)}),
                  &body);
  AppendDelimited(FamilyMessage("node_memory_working_set_bytes", 3,  // untyped
                                {MetricMessage(5, 1.616273408e+09, 1633253809720)}),
                  &body);
  AppendDelimited(FamilyMessage("scrape_error", 1, {MetricMessage(2, 0, 0)}), &body);
  ResourceMetrics m = MustParse(body);
  EXPECT_TRUE(m.node.has_cpu);
  EXPECT_EQ(m.node.cpu_ns, 357'354'910'000u);
  EXPECT_EQ(m.node.cpu_timestamp, 1633253809720'000'000);
  EXPECT_EQ(m.node.memory_bytes, 1'616'273'408u);
  EXPECT_FALSE(m.scrape_error);
  ASSERT_EQ(m.containers.size(), 2u);
  const ContainerUsage& a = m.containers[0];
  EXPECT_EQ(a.namespace_, "ns");
  EXPECT_EQ(a.pod, "pod-a");
  EXPECT_EQ(a.container, "c1");
  EXPECT_EQ(a.cpu_ns, 4'500'000'000u);
  EXPECT_EQ(a.cpu_timestamp, 1633253812125'000'000);
  EXPECT_EQ(a.memory_bytes, 12'533'760u);
  EXPECT_EQ(a.memory_timestamp, 1633253812126'000'000);
  EXPECT_EQ(a.start_time, 1'633'252'712'000'000'000);
  const ContainerUsage& b = m.containers[1];
  EXPECT_EQ(b.pod, "pod-b");
  EXPECT_EQ(b.cpu_timestamp, kScrapeTime);  // no timestamp: the scrape time
  EXPECT_FALSE(b.has_memory);
}

TEST(ResourceMetricsProtobuf, ScrapeErrorAndRangeChecks) {
  std::string body;
  AppendDelimited(
      FamilyMessage("node_cpu_usage_seconds_total", 0, {MetricMessage(3, std::nan(""), 1000)}),
      &body);
  AppendDelimited(FamilyMessage("node_memory_working_set_bytes", 1, {MetricMessage(2, 5, -3)}),
                  &body);
  AppendDelimited(FamilyMessage("resource_scrape_error", 1, {MetricMessage(2, 1, 0)}), &body);
  ResourceMetrics m = MustParse(body);
  EXPECT_FALSE(m.node.has_cpu);
  EXPECT_FALSE(m.node.has_memory);
  EXPECT_EQ(m.ignored_samples, 2);
  EXPECT_TRUE(m.scrape_error);
}

TEST(ResourceMetricsProtobuf, EmptyBodyIsEmpty) {
  ResourceMetrics m = MustParse("");
  EXPECT_FALSE(m.node.has_cpu);
  EXPECT_TRUE(m.containers.empty());
}

TEST(ResourceMetricsProtobuf, UnknownFieldsAndValuelessMetricsAreSkipped) {
  auto unknown = [](std::string* m) {
    AppendTag(15, 0, m);
    AppendVarint(300, m);
    AppendTag(16, 1, m);
    m->append(8, '\x7f');
    AppendTag(17, 5, m);
    m->append(4, '\x01');
    AppendLengthDelimited(18, "anything", m);
  };
  std::string label = Label("container", "c");
  unknown(&label);
  std::string metric;
  AppendLengthDelimited(1, label, &metric);
  AppendLengthDelimited(1, Label("namespace", "n"), &metric);
  AppendLengthDelimited(1, Label("pod", "p"), &metric);
  std::string counter = Value(2);
  AppendLengthDelimited(2, "exemplar bytes", &counter);  // Counter.exemplar
  unknown(&counter);
  AppendLengthDelimited(3, counter, &metric);
  unknown(&metric);
  std::string family;
  unknown(&family);
  AppendLengthDelimited(4, metric, &family);  // the metric before the name
  AppendLengthDelimited(2, "help", &family);
  AppendLengthDelimited(1, "container_cpu_usage_seconds_total", &family);
  // A summary under a known name has no value to record.
  std::string summary;
  AppendLengthDelimited(4, "\x08\x01", &summary);
  AppendLengthDelimited(4, summary, &family);
  std::string body;
  AppendDelimited(family, &body);
  ResourceMetrics m = MustParse(body);
  ASSERT_EQ(m.containers.size(), 1u);
  EXPECT_EQ(m.containers[0].cpu_ns, 2'000'000'000u);
  EXPECT_EQ(m.ignored_samples, 0);
}

TEST(ResourceMetricsProtobuf, FamiliesNotNeededAreNotRead) {
  // The metric of pod_cpu_usage_seconds_total is garbage inside a well-formed family.
  std::string family;
  AppendLengthDelimited(1, "pod_cpu_usage_seconds_total", &family);
  AppendLengthDelimited(4, "\xff\xff\xff", &family);
  std::string body;
  AppendDelimited(family, &body);
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {MetricMessage(3, 1, 1000)}),
                  &body);
  EXPECT_TRUE(MustParse(body).node.has_cpu);
}

TEST(ResourceMetricsProtobuf, Truncation) {
  const std::string body =
      Corpus("kubelet_protobuf", "kubelet_v1_36_3_containerd_1_6_cgroup_v1.pb");
  ASSERT_FALSE(body.empty());
  // Where each family ends: a body cut there is a shorter, valid body.
  std::vector<size_t> boundaries;
  for (const char* p = body.data(); p < body.data() + body.size();) {
    uint64_t length = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(*p++);
      length |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
    }
    p += length;
    boundaries.push_back(p - body.data());
  }
  int failed = 0;
  for (size_t n = 1; n < body.size(); ++n) {
    ResourceMetrics m;
    base::Status s = ParseResourceMetricsProtobuf(body.substr(0, n), kScrapeTime, &m);
    bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    EXPECT_EQ(s.ok(), boundary) << n << ": " << s.message();
    if (!s.ok()) {
      EXPECT_THAT(s.message(), StartsWith("family "));
      ++failed;
    }
  }
  EXPECT_GT(failed, 0);
}

TEST(ResourceMetricsProtobuf, MalformedVarints) {
  // Eleven continuation bytes: longer than any varint.
  EXPECT_EQ(ParseError(std::string(11, '\xff')), "family 1: malformed length prefix");
  // Ten bytes whose last carries more than the 64th bit.
  EXPECT_EQ(ParseError(std::string(9, '\xff') + "\x02"), "family 1: malformed length prefix");
  // A varint that runs off the end.
  EXPECT_EQ(ParseError("\x80"), "family 1: malformed length prefix");
  // Inside a family: a tag, then a timestamp varint, that run off their message.
  std::string body;
  AppendDelimited("\x80", &body);
  EXPECT_EQ(ParseError(body), "family 1: malformed tag varint");
  std::string metric = "\x30\xff\xff";  // timestamp_ms, unterminated
  std::string family;
  AppendLengthDelimited(1, "node_cpu_usage_seconds_total", &family);
  AppendLengthDelimited(4, metric, &family);
  body.clear();
  AppendDelimited(family, &body);
  EXPECT_EQ(ParseError(body), "family 1: metric: malformed varint");
}

TEST(ResourceMetricsProtobuf, OversizeLengths) {
  std::string body;
  AppendVarint(uint64_t{1} << 40, &body);
  body += "abc";
  EXPECT_EQ(ParseError(body), "family 1: length 1099511627776 beyond the body (3 bytes left)");
  body.clear();
  AppendVarint(std::numeric_limits<uint64_t>::max(), &body);
  EXPECT_THAT(ParseError(body), HasSubstr("beyond the body"));
  // A field length beyond its family, though within the body.
  std::string family;
  AppendTag(1, 2, &family);
  AppendVarint(1000, &family);
  family += "node";
  body.clear();
  AppendDelimited(family, &body);
  body += std::string(2000, '\0');
  EXPECT_EQ(ParseError(body), "family 1: length beyond the message");
  // A label length beyond its metric.
  std::string metric;
  AppendTag(1, 2, &metric);
  AppendVarint(50, &metric);
  metric += "short";
  body.clear();
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {metric}), &body);
  EXPECT_EQ(ParseError(body), "family 1: metric: length beyond the message");
  // A double cut short.
  metric = Value(1).substr(0, 5);
  std::string wrapped;
  AppendLengthDelimited(3, metric, &wrapped);
  body.clear();
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {wrapped}), &body);
  EXPECT_EQ(ParseError(body), "family 1: value: fixed64 beyond the message");
}

TEST(ResourceMetricsProtobuf, WrongWireTypesAndNames) {
  std::string family = "\x08\x01";  // name as a varint
  std::string body;
  AppendDelimited(family, &body);
  EXPECT_EQ(ParseError(body), "family 1: name: wrong wire type");
  body.clear();
  AppendDelimited("\x0b", &body);  // field 1, start group
  EXPECT_EQ(ParseError(body), "family 1: unsupported wire type");
  body.clear();
  AppendDelimited("\x18\x01", &body);  // a type, no name
  EXPECT_EQ(ParseError(body), "family 1: family without a name");
  std::string metric;
  AppendLengthDelimited(6, "x", &metric);  // timestamp as bytes
  body.clear();
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {metric}), &body);
  EXPECT_EQ(ParseError(body), "family 1: timestamp: wrong wire type");
  metric.clear();
  std::string value;
  AppendTag(1, 0, &value);
  AppendVarint(3, &value);  // Gauge.value as a varint
  AppendLengthDelimited(2, value, &metric);
  body.clear();
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {metric}), &body);
  EXPECT_EQ(ParseError(body), "family 1: value: wrong wire type");
}

TEST(ResourceMetricsProtobuf, SameErrorsAsTheTextParser) {
  std::string body;
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {MetricMessage(3, 1, 1000)}),
                  &body);
  AppendDelimited(FamilyMessage("node_cpu_usage_seconds_total", 0, {MetricMessage(3, 1, 1000)}),
                  &body);
  EXPECT_EQ(ParseError(body), "family 2: second family named node_cpu_usage_seconds_total");
  body.clear();
  AppendDelimited(FamilyMessage("container_cpu_usage_seconds_total", 0,
                                {MetricMessage(3, 1, 1000, "ns", "", "c")}),
                  &body);
  EXPECT_EQ(ParseError(body),
            "family 1: container_cpu_usage_seconds_total: needs non-empty namespace, pod and "
            "container labels");
  std::string metric = MetricMessage(3, 1, 1000, "ns", "p", "c");
  AppendLengthDelimited(1, Label("pod", "q"), &metric);
  body.clear();
  AppendDelimited(FamilyMessage("container_cpu_usage_seconds_total", 0, {metric}), &body);
  EXPECT_EQ(ParseError(body), "family 1: labels: duplicate label \"pod\"");
  // Each of the three labels the window reads, and any other, once too often; and labels
  // that only share a size or a first letter with them are other labels.
  for (const char* label : {"namespace", "container", "a"}) {
    metric = MetricMessage(3, 1, 1000, "ns", "p", "c");
    AppendLengthDelimited(1, Label("a", "1"), &metric);
    if (std::string_view(label) != "a") AppendLengthDelimited(1, Label("b", "2"), &metric);
    AppendLengthDelimited(1, Label(label, "x"), &metric);
    body.clear();
    AppendDelimited(FamilyMessage("container_cpu_usage_seconds_total", 0, {metric}), &body);
    EXPECT_EQ(ParseError(body), std::string("family 1: labels: duplicate label \"") + label + "\"");
  }
  metric = MetricMessage(3, 1, 1000, "ns", "p", "c");
  for (const char* label : {"namespacf", "containes", "pid", "nod"}) {
    AppendLengthDelimited(1, Label(label, "x"), &metric);
  }
  body.clear();
  AppendDelimited(FamilyMessage("container_cpu_usage_seconds_total", 0, {metric}), &body);
  ResourceMetrics got;
  ASSERT_TRUE(ParseResourceMetricsProtobuf(body, 1, &got).ok());
  ASSERT_EQ(got.containers.size(), 1u);
  EXPECT_EQ(got.containers[0].namespace_, "ns");
  EXPECT_EQ(got.containers[0].pod, "p");
  EXPECT_EQ(got.containers[0].container, "c");
}

TEST(ResourceMetricsProtobuf, GeneratedPayloadMatchesText) {
  const std::string text = testing_support::KubeletPayload(30, 2, 1'700'000'000'000);
  std::string pb;
  ASSERT_TRUE(testing_support::AppendAsDelimitedProtobuf(text, &pb));
  EXPECT_LT(pb.size(), text.size());
  ResourceMetrics from_text, from_pb;
  ASSERT_TRUE(ParseResourceMetrics(text, kScrapeTime, &from_text).ok());
  // Reused: the result keeps its capacity and is cleared.
  ASSERT_TRUE(ParseResourceMetricsProtobuf(pb, kScrapeTime, &from_pb).ok());
  ASSERT_TRUE(ParseResourceMetricsProtobuf(pb, kScrapeTime, &from_pb).ok());
  ExpectSame(from_pb, from_text);
  EXPECT_EQ(from_pb.containers.size(), 60u);
}

TEST(ExpositionFormat, ByContentType) {
  auto format = [](std::string_view content_type) {
    auto f = ExpositionFormatOf(content_type);
    EXPECT_TRUE(f.ok()) << content_type;
    return f.ok() ? *f : ExpositionFormat::kText;
  };
  EXPECT_EQ(format(""), ExpositionFormat::kText);
  EXPECT_EQ(format("text/plain; version=0.0.4; charset=utf-8; escaping=underscores"),
            ExpositionFormat::kText);
  EXPECT_EQ(format("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                   "encoding=delimited; escaping=underscores"),
            ExpositionFormat::kProtobufDelimited);
  EXPECT_EQ(format("Application/Vnd.Google.Protobuf;proto=\"io.prometheus.client.MetricFamily\";"
                   "encoding=delimited"),
            ExpositionFormat::kProtobufDelimited);
  auto text_encoding = ExpositionFormatOf(
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text");
  ASSERT_FALSE(text_encoding.ok());
  EXPECT_THAT(text_encoding.error(), HasSubstr("encoding=\"text\""));
  EXPECT_FALSE(ExpositionFormatOf("application/vnd.google.protobuf").ok());
}

}  // namespace
}  // namespace scraper
