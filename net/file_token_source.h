// A bearer token read from a file (a projected service-account token, a kubeconfig tokenFile)
// and re-read when the file changes, so token rotation needs no restart.
//
// Thread-safety: all methods may be called from any thread, as may the provider AsProvider()
// returns. Reads of the file happen inside those calls (no background thread), at most once per
// `recheck` interval.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "net/http_client.h"

namespace net {

// Owns its state through a shared pointer, so providers made by AsProvider() stay valid after the
// source is destroyed. A change of the file is seen as a different modification time or size.
class FileTokenSource {
 public:
  explicit FileTokenSource(std::string path,
                           std::chrono::milliseconds recheck = std::chrono::seconds(1));
  ~FileTokenSource();
  // The current token (surrounding whitespace trimmed), or the error from the last read if no
  // token was ever read. When the file becomes unreadable or empty, the last good token is kept
  // and LastError() reports why.
  base::Result<std::string> Token();
  // The error of the most recent read attempt; Ok after a successful read.
  base::Status LastError();
  // A provider backed by this source (shares its state; may outlive it). Returns "" when no
  // token was ever read.
  TokenProvider AsProvider();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace net
