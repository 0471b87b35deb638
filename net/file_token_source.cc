#include "net/file_token_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "base/mutex.h"

namespace net {

using Clock = std::chrono::steady_clock;

struct FileTokenSource::State {
  std::string path;
  std::chrono::milliseconds recheck;
  base::Mutex mu;
  bool checked GUARDED_BY(mu) = false;
  Clock::time_point last_check GUARDED_BY(mu);
  struct timespec mtime GUARDED_BY(mu) {};
  off_t size GUARDED_BY(mu) = -1;
  std::optional<std::string> token GUARDED_BY(mu);  // last good token
  std::string error GUARDED_BY(mu);                 // last read error, "" after success

  void RefreshLocked() REQUIRES(mu) {
    auto now = Clock::now();
    if (checked && now - last_check < recheck) return;
    checked = true;
    last_check = now;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      error = "token file " + path + ": " + std::strerror(errno);
      return;
    }
    if (token && error.empty() && st.st_mtim.tv_sec == mtime.tv_sec &&
        st.st_mtim.tv_nsec == mtime.tv_nsec && st.st_size == size)
      return;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in) {
      error = "token file " + path + ": cannot read";
      return;
    }
    std::string text = content.str();
    auto first = text.find_first_not_of(" \t\r\n");
    auto last = text.find_last_not_of(" \t\r\n");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    if (text.empty()) {
      error = "token file " + path + ": empty";
      return;
    }
    token = std::move(text);
    error.clear();
    mtime = st.st_mtim;
    size = st.st_size;
  }
};

FileTokenSource::FileTokenSource(std::string path, std::chrono::milliseconds recheck)
    : state_(std::make_shared<State>()) {
  state_->path = std::move(path);
  state_->recheck = recheck;
}

FileTokenSource::~FileTokenSource() = default;

base::Result<std::string> FileTokenSource::Token() {
  base::MutexLock lock(state_->mu);
  state_->RefreshLocked();
  if (!state_->token) return base::MakeError(state_->error);
  return *state_->token;
}

base::Status FileTokenSource::LastError() {
  base::MutexLock lock(state_->mu);
  state_->RefreshLocked();
  return state_->error.empty() ? base::Status::Ok() : base::Status::Error(state_->error);
}

TokenProvider FileTokenSource::AsProvider() {
  return [state = state_]() -> std::string {
    base::MutexLock lock(state->mu);
    state->RefreshLocked();
    return state->token.value_or("");
  };
}

}  // namespace net
