// `cpp-metrics-server doctor`: with an administrator's kubeconfig, reads (never writes) what a
// metrics.k8s.io request meets on its way, runs doctor/checks.h on it and prints, for each
// check, a verdict, the evidence and the fix; text, or JSON with `-o json`. Exit status 0 when
// no check fails, 1 when one does, 2 on bad flags or an unreadable kubeconfig.
//
// What it reads: the APIServices; the Service and its EndpointSlices; the serving certificate
// by a TLS handshake with the server (no credentials sent); the
// kube-system/extension-apiserver-authentication ConfigMap; SubjectAccessReviews for the
// server's ServiceAccount (reviews only ask); and the server's /debug/nodes, reached at the
// Service's address with the kubeconfig's credentials (a bearer token only to a server verified
// against the caBundle). It prints no secret: no token, no key, no Secret data.
//
// Not thread-safe: main calls it once.
#pragma once

namespace doctor {

// argv[0] is "doctor"; flags follow.
int Main(int argc, const char* const* argv);

}  // namespace doctor
