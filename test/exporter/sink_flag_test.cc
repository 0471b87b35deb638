#include <gtest/gtest.h>

#include "exporter/influx_sink.h"

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

}  // namespace
}  // namespace exporter
