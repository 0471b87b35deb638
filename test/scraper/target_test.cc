#include "scraper/target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace scraper {
namespace {

using ::testing::HasSubstr;

kube::Node MakeNode() {
  kube::Node n;
  n.name = "node-1";
  n.addresses = {{"InternalIP", "10.0.0.5"},
                 {"Hostname", "node-1.local"},
                 {"ExternalIP", "203.0.113.7"},
                 {"InternalIP", "10.0.0.6"}};
  n.kubelet_port = 10300;
  return n;
}

TEST(Target, DefaultOrderPrefersHostname) {
  auto t = ResolveTarget(MakeNode(), TargetSettings{});
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(t->host, "node-1.local");
  EXPECT_EQ(t->port, 10250);
  EXPECT_EQ(t->path, "/metrics/resource");
  EXPECT_EQ(t->Url(), "https://node-1.local:10250/metrics/resource");
}

TEST(Target, OrderOfTypesMattersAndFirstAddressOfATypeWins) {
  TargetSettings s;
  s.preferred_address_types = {"ExternalDNS", "InternalIP", "Hostname"};
  auto t = ResolveTarget(MakeNode(), s);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "10.0.0.5");
  s.preferred_address_types = {"ExternalIP", "InternalIP"};
  EXPECT_EQ(ResolveTarget(MakeNode(), s)->host, "203.0.113.7");
}

TEST(Target, NoMatchingAddress) {
  TargetSettings s;
  s.preferred_address_types = {"InternalDNS", "ExternalDNS"};
  auto t = ResolveTarget(MakeNode(), s);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error(), "no address matched types [InternalDNS ExternalDNS]");
}

TEST(Target, NodeStatusPort) {
  TargetSettings s;
  s.use_node_status_port = true;
  EXPECT_EQ(ResolveTarget(MakeNode(), s)->port, 10300);
  kube::Node n = MakeNode();
  n.kubelet_port = 0;  // unset: fall back to --kubelet-port
  s.port = 10255;
  EXPECT_EQ(ResolveTarget(n, s)->port, 10255);
  s.use_node_status_port = false;
  EXPECT_EQ(ResolveTarget(MakeNode(), s)->port, 10255);
}

TEST(Target, PathAnnotationAsKwokSetsIt) {
  kube::Node n;
  n.name = "kwok-node-0";
  n.addresses = {{"Hostname", "localhost"}};
  n.kubelet_port = 10247;
  n.annotations[kResourceMetricsPathAnnotation] = "/metrics/nodes/kwok-node-0/metrics/resource";
  TargetSettings s;
  s.preferred_address_types = {"InternalIP", "ExternalIP", "Hostname"};
  s.use_node_status_port = true;
  auto t = ResolveTarget(n, s);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Url(), "https://localhost:10247/metrics/nodes/kwok-node-0/metrics/resource");
}

TEST(Target, BadPathAnnotation) {
  kube::Node n = MakeNode();
  n.annotations[kResourceMetricsPathAnnotation] = "metrics resource";
  auto t = ResolveTarget(n, TargetSettings{});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.error(), HasSubstr("invalid path"));
}

TEST(Target, Ipv6IsBracketed) {
  kube::Node n;
  n.addresses = {{"InternalIP", "fd00::5"}};
  auto t = ResolveTarget(n, TargetSettings{});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "fd00::5");
  EXPECT_EQ(t->HostPort(), "[fd00::5]:10250");
  n.addresses = {{"InternalIP", "[fd00::6]"}};
  EXPECT_EQ(ResolveTarget(n, TargetSettings{})->HostPort(), "[fd00::6]:10250");
}

TEST(Target, PlainHttp) {
  TargetSettings s;
  s.plain_http = true;
  auto t = ResolveTarget(MakeNode(), s);
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->Url(), "http://node-1.local:10250/metrics/resource");
}

}  // namespace
}  // namespace scraper
