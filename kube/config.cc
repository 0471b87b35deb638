#include "kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

namespace kube {
namespace {

constexpr std::size_t kMaxKubeconfigBytes = 16 << 20;

// Reads a whole (small) file; errors read like Go's "open <path>: <strerror>".
base::Result<std::string> ReadFile(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError("open " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > limit) return base::MakeError("read " + path + ": file too large");
  }
  if (in.bad()) return base::MakeError("read " + path + ": " + std::strerror(errno));
  return data;
}

base::Status CheckReadable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::Status::Error("open " + path + ": " + std::strerror(errno));
  return base::Status::Ok();
}

base::Result<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return base::MakeError("illegal base64 data: data after padding");
    int v = value(c);
    if (v < 0) return base::MakeError("illegal base64 data: unexpected character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (padding > 2 || bits >= 6) return base::MakeError("illegal base64 data: bad length");
  return out;
}

// Parses "https://host[:port][/prefix]" (IPv6 hosts in brackets).
base::Status ParseServer(std::string_view url, RestConfig* out) {
  std::size_t scheme_end = url.find("://");
  std::string_view scheme = scheme_end == url.npos ? "https" : url.substr(0, scheme_end);
  std::string_view rest = scheme_end == url.npos ? url : url.substr(scheme_end + 3);
  if (scheme == "https") {
    out->endpoint.tls = true;
  } else if (scheme == "http") {
    out->endpoint.tls = false;
  } else {
    return base::Status::Error("unsupported scheme \"" + std::string(scheme) + "\"");
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == rest.npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out->path_prefix = std::string(path);
  if (authority.find('@') != authority.npos) {
    return base::Status::Error("user information in the URL is not supported");
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == authority.npos) return base::Status::Error("missing ']' in host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return base::Status::Error("unexpected text after ']'");
      port = after.substr(1);
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != authority.npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return base::Status::Error("no host");
  out->endpoint.host = std::string(host);
  if (port.empty()) {
    out->endpoint.port = out->endpoint.tls ? 443 : 80;
  } else {
    unsigned long p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return base::Status::Error("invalid port");
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return base::Status::Error("invalid port");
    out->endpoint.port = static_cast<uint16_t>(p);
  }
  return base::Status::Ok();
}

std::string ResolvePath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

// Finds the entry of a named list (clusters, users, contexts) and returns its inner map
// (an empty map when the entry has none); nullopt when there is no such entry.
std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name,
                                    const char* inner) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const YAML::Node& entry : list) {
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() &&
        entry["name"].Scalar() == name) {
      const YAML::Node in = entry[inner];
      if (in && in.IsMap()) return in;
      return YAML::Node(YAML::NodeType::Map);
    }
  }
  return std::nullopt;
}

std::string Scalar(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap()) return "";
  const YAML::Node v = map[key];
  return v && v.IsScalar() ? v.Scalar() : "";
}

// "field: problem", the form of every error below; the caller prefixes the file.
base::Status FieldError(const std::string& field, const std::string& problem) {
  return base::Status::Error(field + ": " + problem);
}

// The cluster entry `cf` ("clusters[name]"): server, TLS server name, CA, insecure flag.
base::Status ParseCluster(const YAML::Node& cluster, const std::string& cf,
                          const std::string& base_dir, RestConfig* config) {
  std::string server = Scalar(cluster, "server");
  if (server.empty()) return FieldError(cf + ".server", "not set");
  if (auto s = ParseServer(server, config); !s.ok()) {
    return FieldError(cf + ".server", "\"" + server + "\": " + s.message());
  }
  config->tls.server_name = Scalar(cluster, "tls-server-name");
  std::string insecure = Scalar(cluster, "insecure-skip-tls-verify");
  config->tls.insecure_skip_verify = insecure == "true";
  if (!insecure.empty() && insecure != "true" && insecure != "false") {
    return FieldError(cf + ".insecure-skip-tls-verify", "not a boolean: \"" + insecure + "\"");
  }
  std::string ca_data = Scalar(cluster, "certificate-authority-data");
  std::string ca_file = ResolvePath(Scalar(cluster, "certificate-authority"), base_dir);
  if (!ca_data.empty()) {  // client-go: the data overrides the file
    auto decoded = DecodeBase64(ca_data);
    if (!decoded.ok()) return FieldError(cf + ".certificate-authority-data", decoded.error());
    config->tls.ca_data = std::move(decoded.value());
  } else if (!ca_file.empty()) {
    if (auto s = CheckReadable(ca_file); !s.ok()) {
      return FieldError(cf + ".certificate-authority", s.message());
    }
    config->tls.ca_file = ca_file;
  }
  if (config->tls.insecure_skip_verify && (!ca_data.empty() || !ca_file.empty())) {
    // client-go rejects this combination ("specifying a root certificates file with the insecure
    // flag is not allowed").
    return FieldError(cf + ".insecure-skip-tls-verify",
                      "specifying a root certificates file with the insecure flag is not allowed");
  }
  return base::Status::Ok();
}

// A PEM given inline (`data_key`, base64, wins as in client-go) or as a file (`file_key`).
base::Status LoadPem(const YAML::Node& user, const std::string& uf, const std::string& base_dir,
                     const char* data_key, const char* file_key, std::string* data_out,
                     std::string* file_out) {
  std::string data = Scalar(user, data_key);
  std::string file = ResolvePath(Scalar(user, file_key), base_dir);
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded.ok()) return FieldError(uf + "." + data_key, decoded.error());
    *data_out = std::move(decoded.value());
  } else if (!file.empty()) {
    if (auto s = CheckReadable(file); !s.ok()) return FieldError(uf + "." + file_key, s.message());
    *file_out = file;
  }
  return base::Status::Ok();
}

// The user entry `uf` ("users[name]"): client certificate and key, token or token file.
base::Status ParseUser(const YAML::Node& user, const std::string& uf, const std::string& base_dir,
                       RestConfig* config) {
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (user.IsMap() && user[unsupported]) {
      return FieldError(uf + "." + unsupported,
                        "not supported (use a token or a client certificate)");
    }
  }
  if (auto s = LoadPem(user, uf, base_dir, "client-certificate-data", "client-certificate",
                       &config->tls.cert_data, &config->tls.cert_file);
      !s.ok()) {
    return s;
  }
  if (auto s = LoadPem(user, uf, base_dir, "client-key-data", "client-key", &config->tls.key_data,
                       &config->tls.key_file);
      !s.ok()) {
    return s;
  }
  bool has_cert = !config->tls.cert_data.empty() || !config->tls.cert_file.empty();
  bool has_key = !config->tls.key_data.empty() || !config->tls.key_file.empty();
  if (has_cert && !has_key)
    return FieldError(uf + ".client-key", "client certificate without a key");
  if (has_key && !has_cert) {
    return FieldError(uf + ".client-certificate", "client key without a certificate");
  }
  config->bearer_token = Scalar(user, "token");
  std::string token_file = ResolvePath(Scalar(user, "tokenFile"), base_dir);
  if (!token_file.empty()) {
    auto token = ReadFile(token_file, 1 << 20);
    if (!token.ok()) return FieldError(uf + ".tokenFile", token.error());
    config->token_file = token_file;
    config->bearer_token.clear();  // the file wins and is re-read on change
  }
  return base::Status::Ok();
}

// Resolves the context (given or current) to its cluster and user entries and parses them.
base::Result<RestConfig> ParseKubeconfigNoThrow(std::string_view yaml, const std::string& base_dir,
                                                std::string_view context_override,
                                                const std::string& where) {
  auto fail = [&](const std::string& field, const std::string& problem) {
    return base::MakeError(where + ": " + field + ": " + problem);
  };
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return base::MakeError(where + ": invalid YAML: " + e.what());
  }
  if (!root.IsMap()) return base::MakeError(where + ": not a kubeconfig (expected a mapping)");

  std::string context_name =
      context_override.empty() ? Scalar(root, "current-context") : std::string(context_override);
  if (context_name.empty()) return fail("current-context", "not set");
  const auto context = FindNamed(root["contexts"], context_name, "context");
  if (!context) return fail("contexts[" + context_name + "]", "no such context");
  std::string cluster_name = Scalar(*context, "cluster");
  std::string user_name = Scalar(*context, "user");
  if (cluster_name.empty()) return fail("contexts[" + context_name + "].cluster", "not set");

  const auto cluster = FindNamed(root["clusters"], cluster_name, "cluster");
  const std::string cf = "clusters[" + cluster_name + "]";
  if (!cluster) return fail(cf, "no such cluster");
  RestConfig config;
  config.source = where;
  if (auto s = ParseCluster(*cluster, cf, base_dir, &config); !s.ok()) {
    return base::MakeError(where + ": " + s.message());
  }
  if (user_name.empty()) return config;
  const auto user = FindNamed(root["users"], user_name, "user");
  const std::string uf = "users[" + user_name + "]";
  if (!user) return fail(uf, "no such user");
  if (auto s = ParseUser(*user, uf, base_dir, &config); !s.ok()) {
    return base::MakeError(where + ": " + s.message());
  }
  return config;
}

}  // namespace

base::Result<RestConfig> ParseKubeconfig(std::string_view yaml, const std::string& base_dir,
                                         std::string_view context,
                                         std::string_view name_for_errors) {
  // yaml-cpp may throw from more places than Load (conversions); nothing escapes this edge.
  try {
    return ParseKubeconfigNoThrow(yaml, base_dir, context, std::string(name_for_errors));
  } catch (const std::exception& e) {
    return base::MakeError(std::string(name_for_errors) + ": " + e.what());
  }
}

base::Result<RestConfig> LoadKubeconfig(const std::string& path, std::string_view context) {
  const std::string where = "kubeconfig " + path;
  auto data = ReadFile(path, kMaxKubeconfigBytes);
  if (!data.ok()) return base::MakeError(where + ": " + data.error());
  std::string dir = std::filesystem::path(path).parent_path().string();
  return ParseKubeconfig(*data, dir, context, where);
}

base::Result<RestConfig> InClusterConfig(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port) {
    return base::MakeError(
        "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT must be defined");
  }
  RestConfig config;
  config.source = "in-cluster";
  std::string h = host;
  std::string url =
      "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  if (auto s = ParseServer(url, &config); !s.ok()) {
    return base::MakeError("in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT \"" + url +
                           "\": " + s.message());
  }
  auto token = ReadFile(paths.token_file, 1 << 20);
  if (!token.ok()) return base::MakeError("in-cluster configuration: token: " + token.error());
  if (auto s = CheckReadable(paths.ca_file); !s.ok()) {
    return base::MakeError("in-cluster configuration: ca.crt: " + s.message());
  }
  config.token_file = paths.token_file;
  config.tls.ca_file = paths.ca_file;
  return config;
}

void KubeOptions::AddFlags(base::FlagSet& flags) {
  flags.String("kubeconfig", &kubeconfig,
               "The path to the kubeconfig used to connect to the Kubernetes API server and the "
               "Kubelets (defaults to in-cluster config)");
  flags.String("authentication-kubeconfig", &authentication_kubeconfig,
               "kubeconfig file pointing at the 'core' kubernetes server with enough rights to "
               "create tokenreviews.authentication.k8s.io (defaults to --kubeconfig, then "
               "in-cluster config)");
  flags.String("authorization-kubeconfig", &authorization_kubeconfig,
               "kubeconfig file pointing at the 'core' kubernetes server with enough rights to "
               "create subjectaccessreviews.authorization.k8s.io (defaults to --kubeconfig, then "
               "in-cluster config)");
}

std::vector<std::string> KubeOptions::Validate() const {
  std::vector<std::string> errors;
  auto check = [&](const char* flag, const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      errors.push_back(std::string("--") + flag + ": " + path + ": not a readable file");
    }
  };
  check("kubeconfig", kubeconfig);
  check("authentication-kubeconfig", authentication_kubeconfig);
  check("authorization-kubeconfig", authorization_kubeconfig);
  return errors;
}

base::Result<RestConfig> KubeOptions::ClientConfig() const {
  auto config = kubeconfig.empty() ? InClusterConfig(in_cluster) : LoadKubeconfig(kubeconfig);
  if (!config.ok())
    return base::MakeError("unable to construct lister client config: " + config.error());
  return config;
}

base::Result<RestConfig> KubeOptions::AuthenticationConfig() const {
  if (authentication_kubeconfig.empty()) return ClientConfig();
  return LoadKubeconfig(authentication_kubeconfig);
}

base::Result<RestConfig> KubeOptions::AuthorizationConfig() const {
  if (authorization_kubeconfig.empty()) return ClientConfig();
  return LoadKubeconfig(authorization_kubeconfig);
}

}  // namespace kube
