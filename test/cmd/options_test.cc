// The program's flag table against metrics-server v0.8.0's: every flag it has is accepted (those
// without meaning here with a reason), unknown flags stay errors, and the forms pflag accepts
// parse the same.
#include "cmd/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace cmd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Parsed {
  ProgramOptions options;
  base::FlagSet flags{"cpp-metrics-server", "test"};
  std::vector<std::string> errors;

  explicit Parsed(std::vector<std::string> args) {
    options.AddFlags(flags);
    std::vector<const char*> argv = {"cpp-metrics-server"};
    for (const auto& a : args) argv.push_back(a.c_str());
    errors = flags.Parse(static_cast<int>(argv.size()), argv.data());
  }
};

// Every flag of metrics-server v0.8.0, with a valid value: its own
// (cmd/metrics-server/app/options/options.go, kubelet_client.go) and those of k8s.io/apiserver
// v0.33.2 and k8s.io/component-base v0.33.2 it registers (ServerRunOptions.AddUniversalFlags,
// SecureServingOptions, DelegatingAuthentication/AuthorizationOptions, AuditOptions,
// FeatureOptions, logs API flags and the klog flags logs.AddGoFlags adds: -v, --vmodule).
// "" marks a boolean given without a value.
const std::vector<std::pair<std::string, std::string>> kMetricsServerFlags = {
    // metrics server
    {"metric-resolution", "15s"},
    {"version", "false"},
    {"kubeconfig", "/etc/kubeconfig"},
    // generic
    {"advertise-address", "10.0.0.1"},
    {"cors-allowed-origins", "https://a.example,https://b.example"},
    {"strict-transport-security-directives", "max-age=31536000,includeSubDomains"},
    {"external-hostname", "metrics.example"},
    {"max-requests-inflight", "400"},
    {"max-mutating-requests-inflight", "200"},
    {"request-timeout", "1m0s"},
    {"goaway-chance", "0.001"},
    {"livez-grace-period", "0s"},
    {"min-request-timeout", "1800"},
    {"storage-initialization-timeout", "1m0s"},
    {"shutdown-delay-duration", "10s"},
    {"shutdown-send-retry-after", ""},
    {"shutdown-watch-termination-grace-period", "0s"},
    {"emulated-version", "kube=1.33"},
    {"feature-gates", "kube:APIResponseCompression=false"},
    {"emulation-forward-compatible", "false"},
    {"runtime-config-emulation-forward-compatible", "false"},
    // kubelet client
    {"kubelet-insecure-tls", ""},
    {"kubelet-use-node-status-port", ""},
    {"kubelet-port", "10250"},
    {"kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"},
    {"kubelet-certificate-authority", "/ca.crt"},
    {"kubelet-client-key", "/client.key"},
    {"kubelet-client-certificate", "/client.crt"},
    {"kubelet-request-timeout", "10s"},
    {"node-selector", "kubernetes.io/os=linux"},
    {"deprecated-kubelet-completely-insecure", "false"},
    // apiserver secure serving
    {"bind-address", "::"},
    {"secure-port", "4443"},
    {"disable-http2-serving", ""},
    {"cert-dir", "/tmp"},
    {"tls-cert-file", "/tls.crt"},
    {"tls-private-key-file", "/tls.key"},
    {"tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {"tls-min-version", "VersionTLS12"},
    {"tls-sni-cert-key", "a.crt,a.key:*.a.example"},
    {"http2-max-streams-per-connection", "1000"},
    {"permit-port-sharing", ""},
    {"permit-address-sharing", ""},
    // apiserver authentication
    {"requestheader-username-headers", "X-Remote-User"},
    {"requestheader-uid-headers", "X-Remote-Uid"},
    {"requestheader-group-headers", "X-Remote-Group"},
    {"requestheader-extra-headers-prefix", "X-Remote-Extra-"},
    {"requestheader-client-ca-file", "/front-proxy-ca.crt"},
    {"requestheader-allowed-names", "front-proxy-client"},
    {"client-ca-file", "/client-ca.crt"},
    {"authentication-kubeconfig", "/authn.kubeconfig"},
    {"authentication-token-webhook-cache-ttl", "10s"},
    {"authentication-skip-lookup", ""},
    {"authentication-tolerate-lookup-failure", ""},
    // apiserver authorization
    {"authorization-kubeconfig", "/authz.kubeconfig"},
    {"authorization-webhook-cache-authorized-ttl", "10s"},
    {"authorization-webhook-cache-unauthorized-ttl", "10s"},
    {"authorization-always-allow-paths", "/healthz,/readyz,/livez,/metrics"},
    // apiserver audit log
    {"audit-policy-file", "/audit-policy.yaml"},
    {"audit-log-path", "-"},
    {"audit-log-maxage", "7"},
    {"audit-log-maxbackup", "3"},
    {"audit-log-maxsize", "100"},
    {"audit-log-format", "json"},
    {"audit-log-version", "audit.k8s.io/v1"},
    {"audit-log-compress", ""},
    {"audit-log-mode", "blocking"},
    {"audit-log-batch-buffer-size", "10000"},
    {"audit-log-batch-max-size", "1"},
    {"audit-log-batch-max-wait", "0s"},
    {"audit-log-batch-throttle-enable", ""},
    {"audit-log-batch-throttle-qps", "10.5"},
    {"audit-log-batch-throttle-burst", "15"},
    {"audit-log-truncate-enabled", ""},
    {"audit-log-truncate-max-batch-size", "10485760"},
    {"audit-log-truncate-max-event-size", "102400"},
    {"audit-webhook-config-file", "/webhook.kubeconfig"},
    {"audit-webhook-initial-backoff", "10s"},
    {"audit-webhook-batch-initial-backoff", "10s"},
    {"audit-webhook-version", "audit.k8s.io/v1"},
    {"audit-webhook-mode", "batch"},
    {"audit-webhook-batch-buffer-size", "10000"},
    {"audit-webhook-batch-max-size", "400"},
    {"audit-webhook-batch-max-wait", "30s"},
    {"audit-webhook-batch-throttle-enable", "true"},
    {"audit-webhook-batch-throttle-qps", "10"},
    {"audit-webhook-batch-throttle-burst", "15"},
    {"audit-webhook-truncate-enabled", "false"},
    {"audit-webhook-truncate-max-batch-size", "10485760"},
    {"audit-webhook-truncate-max-event-size", "102400"},
    // features
    {"profiling", "false"},
    {"contention-profiling", "false"},
    {"debug-socket-path", "/run/debug.sock"},
    {"enable-priority-and-fairness", "false"},
    // logging
    {"logging-format", "json"},
    {"log-flush-frequency", "5s"},
    {"v", "2"},
    {"vmodule", "scraper*=4"},
    {"log-text-split-stream", ""},
    {"log-text-info-buffer-size", "0"},
    {"log-json-split-stream", ""},
    {"log-json-info-buffer-size", "1Ki"},
};

TEST(ProgramFlags, EveryMetricsServerFlagIsAcceptedInBothForms) {
  for (const auto& [name, value] : kMetricsServerFlags) {
    SCOPED_TRACE(name);
    if (value.empty()) {
      EXPECT_THAT(Parsed({"--" + name}).errors, IsEmpty());
      EXPECT_THAT(Parsed({"--" + name + "=false"}).errors, IsEmpty());
      continue;
    }
    EXPECT_THAT(Parsed({"--" + name + "=" + value}).errors, IsEmpty());
    // pflag takes a boolean's value only after "=".
    if (value != "true" && value != "false") {
      EXPECT_THAT(Parsed({"--" + name, value}).errors, IsEmpty());
    }
  }
}

TEST(ProgramFlags, UnknownFlagsStayErrors) {
  Parsed p({"--kubelet-insecure-tls", "--no-such-flag=1", "--audit-log-pathh", "x", "-q"});
  EXPECT_THAT(p.errors, ElementsAre(HasSubstr("unknown flag --no-such-flag"),
                                    HasSubstr("unknown flag --audit-log-pathh"),
                                    HasSubstr("unexpected argument \"x\""),
                                    HasSubstr("unknown shorthand flag 'q'")));
}

TEST(ProgramFlags, ValuesOfFlagsWithoutEffectAreStillChecked) {
  Parsed p({"--audit-log-maxage=week", "--goaway-chance=often", "--livez-grace-period=soon",
            "--advertise-address=not-an-ip", "--profiling=maybe"});
  ASSERT_EQ(p.errors.size(), 5u);
  EXPECT_THAT(p.errors[0], HasSubstr("--audit-log-maxage"));
  EXPECT_THAT(p.errors[4], HasSubstr("--profiling"));
}

TEST(ProgramFlags, NodeSelectorShorthand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-l", "app=web,tier!=db"}, {"-l=app=web,tier!=db"}, {"-lapp=web,tier!=db"}}) {
    Parsed p(args);
    EXPECT_THAT(p.errors, IsEmpty());
    EXPECT_EQ(p.options.scrape.node_selector, "app=web,tier!=db");
  }
  EXPECT_THAT(Parsed({"-v3"}).errors, IsEmpty());
  EXPECT_EQ(Parsed({"-v3"}).options.log.verbosity, 3);
  EXPECT_THAT(Parsed({"--help"}).flags.Usage(), HasSubstr("-l, --node-selector string"));
}

TEST(ProgramFlags, ImplementedFlagsReachTheirOptions) {
  Parsed p({"--version", "--shutdown-delay-duration=7s", "--tls-sni-cert-key", "a.crt,a.key",
            "--tls-sni-cert-key=b.crt,b.key:*.b.example,b.example", "--permit-port-sharing"});
  ASSERT_THAT(p.errors, IsEmpty());
  EXPECT_TRUE(p.options.show_version);
  EXPECT_EQ(p.options.api.shutdown_delay_duration, std::chrono::seconds(7));
  EXPECT_THAT(p.options.api.tls.sni_cert_keys,
              ElementsAre("a.crt,a.key", "b.crt,b.key:*.b.example,b.example"));
  EXPECT_TRUE(p.options.api.ToServerOptions().reuse_port);
  EXPECT_THAT(Parsed({"--shutdown-delay-duration=-1s"}).options.Validate(),
              ::testing::Contains(HasSubstr("--shutdown-delay-duration")));
}

// --sink is repeatable, Heapster's syntax; a bad one is reported by Validate with the others,
// its password masked.
TEST(ProgramFlags, SinksAreRepeatableAndValidated) {
  Parsed p(
      {"--sink=influxdb:http://a:8086?db=k8s", "--sink", "influxdb:http://b:8086?withfields=true"});
  ASSERT_THAT(p.errors, IsEmpty());
  EXPECT_THAT(p.options.Validate(), IsEmpty());
  auto configs = p.options.sinks.Configs();
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(std::get<exporter::InfluxSinkConfig>(configs[0]).Name(), "influxdb:a:8086");
  EXPECT_TRUE(std::get<exporter::InfluxSinkConfig>(configs[1]).with_fields);

  Parsed bad({"--sink=influxdb:http://a:8086?pw=hunter2&retention=1h", "--sink=kafka:x",
              "--shutdown-delay-duration=-1s"});
  ASSERT_THAT(bad.errors, IsEmpty());
  auto errors = bad.options.Validate();
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr("unknown option \"retention\"")));
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr("--sink=kafka:x: unknown sink")));
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr("--shutdown-delay-duration")));
  for (const auto& e : errors) EXPECT_THAT(e, ::testing::Not(HasSubstr("hunter2")));
}

// --heapster-metrics (the Prometheus exposition at /metrics/heapster) is off unless asked for.
TEST(ProgramFlags, HeapsterMetricsAreOffByDefault) {
  EXPECT_FALSE(Parsed({}).options.sinks.heapster_metrics);
  Parsed p({"--heapster-metrics"});
  ASSERT_THAT(p.errors, IsEmpty());
  EXPECT_TRUE(p.options.sinks.heapster_metrics);
  EXPECT_FALSE(Parsed({"--heapster-metrics=false"}).options.sinks.heapster_metrics);
}

// --heapster-pod-resources is off unless asked for, and only with a consumer of Heapster's names
// (a sink or /metrics/heapster): alone it would watch every pod for nothing.
TEST(ProgramFlags, HeapsterPodResourcesNeedAConsumer) {
  EXPECT_FALSE(Parsed({}).options.sinks.pod_resources);
  for (const auto& flags : std::vector<std::vector<std::string>>{
           {"--heapster-pod-resources", "--heapster-metrics"},
           {"--heapster-pod-resources", "--sink=influxdb:http://influx:8086"}}) {
    Parsed p(flags);
    ASSERT_THAT(p.errors, IsEmpty());
    EXPECT_TRUE(p.options.sinks.pod_resources);
    EXPECT_THAT(p.options.Validate(), IsEmpty());
  }
  EXPECT_THAT(Parsed({"--heapster-pod-resources"}).options.Validate(),
              ::testing::Contains(HasSubstr("--heapster-pod-resources adds names to --sink")));
}

// One warning names every given flag that changes nothing here, with why; a value that asks for
// what this server does anyway (--profiling=false) is not reported.
TEST(ProgramFlags, IneffectiveFlagsAreNamedWithTheirReason) {
  Parsed p({"--profiling=false", "--enable-priority-and-fairness=false", "--disable-http2-serving",
            "--audit-log-path=/var/log/audit.log", "--vmodule=x=4", "--audit-log-path=/other",
            "--feature-gates=A=true", "--profiling"});
  ASSERT_THAT(p.errors, IsEmpty());
  EXPECT_THAT(p.flags.IneffectiveFlags(), ElementsAre(HasSubstr("--profiling (no /debug/pprof"),
                                                      HasSubstr("--audit-log-path (no audit log"),
                                                      HasSubstr("--vmodule (per-file verbosity"),
                                                      HasSubstr("--feature-gates (")));
  EXPECT_THAT(
      Parsed({"--profiling=false", "--disable-http2-serving=true"}).flags.IneffectiveFlags(),
      IsEmpty());
  // k8s.io/apiserver's default grace period for watches (0s: none) is what happens here; another
  // is named.
  EXPECT_THAT(Parsed({"--shutdown-watch-termination-grace-period=0s"}).flags.IneffectiveFlags(),
              IsEmpty());
  EXPECT_THAT(Parsed({"--shutdown-watch-termination-grace-period=0"}).flags.IneffectiveFlags(),
              IsEmpty());
  EXPECT_THAT(Parsed({"--shutdown-watch-termination-grace-period=30s"}).flags.IneffectiveFlags(),
              ElementsAre(HasSubstr("--shutdown-watch-termination-grace-period (watches end")));
}

// The args of metrics-server v0.8.0's release manifest (components.yaml) and of its Helm chart's
// defaults parse and validate (the chart adds --secure-port from containerPort).
TEST(ProgramFlags, ReleaseManifestAndChartDefaultArgs) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--cert-dir=/tmp", "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port", "--metric-resolution=15s"},
           {"--secure-port=10250", "--cert-dir=/tmp",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port", "--metric-resolution=15s"}}) {
    Parsed p(args);
    EXPECT_THAT(p.errors, IsEmpty());
    EXPECT_THAT(p.options.Validate(), IsEmpty());
    EXPECT_THAT(p.flags.IneffectiveFlags(), IsEmpty());
    EXPECT_EQ(p.options.api.secure_port, 10250);
    EXPECT_EQ(p.options.scrape.metric_resolution, std::chrono::seconds(15));
  }
}

// The informers retry within half a resolution (so the caches are back within one after an
// outage), never sooner than client-go's first retry nor later than its cap.
TEST(ProgramSettings, InformerBackoffIsCappedAtHalfTheResolution) {
  using std::chrono::milliseconds;
  EXPECT_EQ(MakeInformerOptions(std::chrono::seconds(15)).backoff.max, milliseconds(7500));
  EXPECT_EQ(MakeInformerOptions(std::chrono::seconds(1)).backoff.max, milliseconds(800));
  EXPECT_EQ(MakeInformerOptions(std::chrono::minutes(5)).backoff.max, milliseconds(30000));
  EXPECT_EQ(MakeInformerOptions(std::chrono::seconds(15)).backoff.initial, milliseconds(800));
}

TEST(ProgramSettings, ReviewCachesFollowTheirFlags) {
  Parsed p({"--authentication-token-webhook-cache-ttl=2m",
            "--authorization-webhook-cache-authorized-ttl=30s",
            "--authorization-webhook-cache-unauthorized-ttl=5s"});
  ASSERT_THAT(p.errors, IsEmpty());
  kube::ReviewOptions tokens = MakeTokenReviewOptions(p.options.api);
  EXPECT_EQ(tokens.cache.allowed_ttl, std::chrono::minutes(2));
  EXPECT_EQ(tokens.cache.denied_ttl, std::chrono::minutes(2));
  kube::ReviewOptions access = MakeAccessReviewOptions(p.options.api);
  EXPECT_EQ(access.cache.allowed_ttl, std::chrono::seconds(30));
  EXPECT_EQ(access.cache.denied_ttl, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cmd
