#include <gtest/gtest.h>

#include "exporter/influx_sink.h"
#include "exporter/options.h"
#include "exporter/otlp_sink.h"

#include <variant>

namespace exporter {
namespace {

TEST(ParseSinkFlag, HeapsterDefaults) {
  auto c = ParseSinkFlag("influxdb:http://monitoring-influxdb:8086");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_FALSE(c->endpoint.tls);
  EXPECT_EQ(c->endpoint.host, "monitoring-influxdb");
  EXPECT_EQ(c->endpoint.port, 8086);
  EXPECT_EQ(c->db, "k8s");
  EXPECT_EQ(c->user, "");
  EXPECT_FALSE(c->with_fields);
  EXPECT_EQ(c->Name(), "influxdb:monitoring-influxdb:8086");

  auto bare = ParseSinkFlag("influxdb:");
  ASSERT_TRUE(bare.ok()) << bare.error();
  EXPECT_EQ(bare->endpoint.HostPort(), "localhost:8086");
}

TEST(ParseSinkFlag, Options) {
  auto c = ParseSinkFlag(
      "influxdb:http://[::1]:9086/?db=metrics&user=admin&pw=s%26cr+t&secure=true&withfields=1");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->endpoint.tls);
  EXPECT_EQ(c->endpoint.host, "::1");
  EXPECT_EQ(c->endpoint.port, 9086);
  EXPECT_EQ(c->db, "metrics");
  EXPECT_EQ(c->user, "admin");
  EXPECT_EQ(c->password, "s&cr t");
  EXPECT_TRUE(c->with_fields);

  auto https = ParseSinkFlag("influxdb:https://db.example:8086?secure=false");
  ASSERT_TRUE(https.ok()) << https.error();
  EXPECT_TRUE(https->endpoint.tls);  // the URL's scheme wins
}

TEST(ParseSinkFlag, ErrorsAreClearAndHideThePassword) {
  struct Case {
    const char* flag;
    const char* error;
  };
  for (const Case& c : {
           Case{"stackdriver:", "--sink=stackdriver:: unknown sink"},
           Case{"influxdb:http://h:8086?pw=hunter2&color=red",
                "--sink=influxdb:http://h:8086?pw=xxxxx&color=red: unknown option \"color\""},
           Case{"influxdb:http://h:8086?secure=maybe", "secure: not a boolean: \"maybe\""},
           Case{"influxdb:http://h:8086?withfields=yes", "withfields: not a boolean"},
           Case{"influxdb:http://h:99999", "bad port \"99999\""},
           Case{"influxdb:http://h:8086/write", "must not have a path"},
           Case{"influxdb:ftp://h", "scheme must be http or https"},
           Case{"influxdb:http://u:hunter2@h:8086", "credentials go in user= and pw="},
           Case{"influxdb:http://h?db=", "empty db"},
           Case{"influxdb:http://h?pw=%zz", "bad %-escape"},
       }) {
    auto r = ParseSinkFlag(c.flag);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_NE(r.error().find(c.error), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("hunter2"), std::string::npos) << r.error();
  }
}

TEST(ParseOtlpSinkFlag, DefaultsAndOptions) {
  auto c = ParseOtlpSinkFlag("otlp:http://collector:4318");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_FALSE(c->endpoint.tls);
  EXPECT_EQ(c->endpoint.HostPort(), "collector:4318");
  EXPECT_EQ(c->target, "/v1/metrics");
  EXPECT_TRUE(c->headers.empty());
  EXPECT_EQ(c->Name(), "otlp:collector:4318");
  EXPECT_EQ(ParseOtlpSinkFlag("otlp:")->endpoint.HostPort(), "localhost:4318");

  auto t = ParseOtlpSinkFlag(
      "otlp:https://[::1]:4319/otlp/v1/metrics?ca=/etc/ca.pem&"
      "headers=Authorization=Bearer%20abc,X-Scope-OrgID=team-a");
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_TRUE(t->endpoint.tls);
  EXPECT_EQ(t->endpoint.host, "::1");
  EXPECT_EQ(t->endpoint.port, 4319);
  EXPECT_EQ(t->target, "/otlp/v1/metrics");
  EXPECT_EQ(t->ca_file, "/etc/ca.pem");
  ASSERT_EQ(t->headers.size(), 2u);
  EXPECT_EQ(t->headers[0], (std::pair<std::string, std::string>{"Authorization", "Bearer abc"}));
  EXPECT_EQ(t->headers[1], (std::pair<std::string, std::string>{"X-Scope-OrgID", "team-a"}));
}

TEST(ParseOtlpSinkFlag, ErrorsAreClearAndHideTheHeaders) {
  struct Case {
    const char* flag;
    const char* error;
  };
  for (const Case& c : {
           Case{"otlp:http://c:4318?headers=Authorization=hunter2&color=red",
                "--sink=otlp:http://c:4318?headers=xxxxx&color=red: unknown option \"color\""},
           Case{"otlp:http://c:4318?headers=hunter2", "headers: want name=value"},
           Case{"otlp:http://c:4318?headers=Bad%20Name=hunter2", "bad header \"Bad Name\""},
           Case{"otlp:http://c:4318?headers=X=a%0d%0ahunter2", "bad header \"X\""},
           Case{"otlp:http://c:4318?ca=/ca.pem", "ca= needs an https:// URL"},
           Case{"otlp:grpc://c:4317", "scheme must be http or https"},
           Case{"otlp:http://u:hunter2@c:4318", "credentials go in headers="},
           Case{"otlp:http://c:0", "bad port \"0\""},
       }) {
    auto r = ParseOtlpSinkFlag(c.flag);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_NE(r.error().find(c.error), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("hunter2"), std::string::npos) << r.error();
  }
}

// Every kind through the one entry point; an unknown kind names the supported ones.
TEST(ParseAnySinkFlag, DispatchesOnTheKind) {
  auto influx = ParseAnySinkFlag("influxdb:http://db:8086");
  ASSERT_TRUE(influx.ok()) << influx.error();
  EXPECT_TRUE(std::holds_alternative<InfluxSinkConfig>(*influx));
  auto otlp = ParseAnySinkFlag("otlp:http://c:4318");
  ASSERT_TRUE(otlp.ok()) << otlp.error();
  EXPECT_TRUE(std::holds_alternative<OtlpSinkConfig>(*otlp));
  auto unknown = ParseAnySinkFlag("kafka:x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("unknown sink"), std::string::npos) << unknown.error();
  EXPECT_NE(unknown.error().find("otlp:"), std::string::npos) << unknown.error();
}

}  // namespace
}  // namespace exporter
