// Runs the library against a real kube-apiserver, for the real-cluster suite and for manual
// checks: syncs the node and Running-pod caches, reads the authentication ConfigMap, and
// optionally asks a TokenReview and a SubjectAccessReview. Prints what it found as
// `key: value` lines (one `node:` line per cached node and one `pod:` line per cached pod, with
// their labels as k=v,... sorted by key; `token_groups:` comma-separated); exits non-zero when
// something failed.
//
//   kube_probe --kubeconfig=$HOME/.kube/config [--token=T] [--sar-user=alice]
//              [--sar-verb=list] [--sar-resource=pods] [--sar-namespace=default]
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "base/flags.h"
#include "kube/auth.h"
#include "kube/authentication_config.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace {

std::string JoinLabels(const kube::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out.append(k).append("=").append(v);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  kube::KubeOptions kube_options;
  std::string token, sar_user, sar_verb = "list", sar_group = "metrics.k8s.io",
                               sar_resource = "pods", sar_namespace = "default";
  std::chrono::nanoseconds sync_timeout = std::chrono::seconds(60);
  base::FlagSet flags("kube_probe", "Checks the Kubernetes-API library against a cluster.");
  kube_options.AddFlags(flags);
  flags.String("token", &token, "A bearer token to send to TokenReview");
  flags.String("sar-user", &sar_user, "A user to ask a SubjectAccessReview about");
  flags.String("sar-verb", &sar_verb, "SubjectAccessReview verb");
  flags.String("sar-group", &sar_group, "SubjectAccessReview API group");
  flags.String("sar-resource", &sar_resource, "SubjectAccessReview resource");
  flags.String("sar-namespace", &sar_namespace, "SubjectAccessReview namespace");
  flags.Duration("sync-timeout", &sync_timeout, "How long to wait for the caches");
  auto errors = flags.Parse(argc, argv);
  for (const auto& e : kube_options.Validate()) errors.push_back(e);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  for (const auto& e : errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  if (!errors.empty()) return 2;

  auto config = kube_options.ClientConfig();
  if (!config.ok()) {
    std::fprintf(stderr, "error: %s\n", config.error().c_str());
    return 1;
  }
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  int rc = 0;
  {
    auto client = kube::ApiClient::Create(io, *config);
    if (!client.ok()) {
      std::fprintf(stderr, "error: %s\n", client.error().c_str());
      rc = 1;
    } else {
      auto& c = *client.value();
      const base::Clock& clock = base::SystemClock::Instance();
      kube::NodeCache nodes;
      kube::PodCache pods;
      auto ni = kube::NewNodeInformer(c, nodes, clock);
      auto pi = kube::NewPodInformer(c, pods, clock);
      kube::AuthenticationConfigWatcher acw(c, clock);
      ni->Start();
      pi->Start();
      acw.Start(nullptr);
      auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(sync_timeout);
      bool synced = kube::WaitForCacheSync({ni.get(), pi.get()}, timeout);
      std::printf("synced: %s\nnodes: %zu\nrunning_pods: %zu\n", synced ? "true" : "false",
                  nodes.Size(), pods.Size());
      if (!synced) {
        std::printf("node_error: %s\npod_error: %s\n", ni->Stats().last_error.c_str(),
                    pi->Stats().last_error.c_str());
        rc = 1;
      }
      for (const auto& n : nodes.List()) {
        std::printf("node: %s port=%d addresses=%zu labels=%s\n", n->name.c_str(), n->kubelet_port,
                    n->addresses.size(), JoinLabels(n->labels).c_str());
      }
      for (const auto& p : pods.List("")) {
        std::printf("pod: %s/%s labels=%s\n", p->namespace_.data(), p->name.data(),
                    JoinLabels(p->labels).c_str());
      }
      for (int i = 0; i < 100 && !acw.HasSynced(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      auto ac = acw.Current();
      std::printf("auth_configmap: %s\n", ac ? "present" : ("absent " + acw.LastError()).c_str());
      if (ac) {
        std::printf("client_ca: %s\nrequestheader_ca: %s\nallowed_names: %zu\n",
                    ac->client_ca_pem.empty() ? "absent" : "present",
                    ac->requestheader_client_ca_pem.empty() ? "absent" : "present",
                    ac->allowed_names.size());
      }
      auto authn_config = kube_options.AuthenticationConfig();
      auto authz_config = kube_options.AuthorizationConfig();
      if (!token.empty() && authn_config.ok()) {
        auto ac2 = kube::ApiClient::Create(io, *authn_config);
        if (ac2.ok()) {
          kube::TokenReviewAuthenticator authn(**ac2, clock);
          std::promise<base::Result<std::optional<kube::UserInfo>>> p;
          authn.Authenticate(token, [&](auto r) { p.set_value(std::move(r)); });
          auto r = p.get_future().get();
          if (!r.ok()) {
            std::printf("token_review_error: %s\n", r.error().c_str());
            rc = 1;
          } else {
            std::printf("token_user: %s\n", r->has_value() ? (*r)->name.c_str() : "<rejected>");
            std::string groups;
            if (r->has_value()) {
              for (const auto& g : (*r)->groups) groups += (groups.empty() ? "" : ",") + g;
            }
            std::printf("token_groups: %s\n", groups.c_str());
          }
        }
      }
      if (!sar_user.empty() && authz_config.ok()) {
        auto ac3 = kube::ApiClient::Create(io, *authz_config);
        if (ac3.ok()) {
          kube::SubjectAccessReviewAuthorizer authz(**ac3, clock);
          kube::Attributes a;
          a.user.name = sar_user;
          a.user.groups = {"system:authenticated"};
          a.verb = sar_verb;
          a.api_group = sar_group;
          a.api_version = "v1beta1";
          a.resource = sar_resource;
          a.namespace_ = sar_namespace;
          std::promise<base::Result<kube::Decision>> p;
          authz.Authorize(a, [&](auto r) { p.set_value(std::move(r)); });
          auto r = p.get_future().get();
          if (!r.ok()) {
            std::printf("sar_error: %s\n", r.error().c_str());
            rc = 1;
          } else {
            std::printf("sar_allowed: %s\nsar_reason: %s\n", r->allowed ? "true" : "false",
                        r->reason.c_str());
          }
        }
      }
    }
  }
  work.reset();
  io.stop();
  thread.join();
  return rc;
}
