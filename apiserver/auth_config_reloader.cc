#include "apiserver/auth_config_reloader.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/mutex.h"

namespace apiserver {

// The periodic check; shared with its pending wait, so a completion after Stop() finds
// `owner` null instead of a destroyed reloader.
struct AuthConfigReloader::Timer {
  explicit Timer(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  std::chrono::milliseconds interval{0};
  base::Mutex mu;
  AuthConfigReloader* owner GUARDED_BY(mu) = nullptr;

  static void Arm(const std::shared_ptr<Timer>& self) {
    self->timer.expires_after(self->interval);
    self->timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec) return;
      {
        base::MutexLock lock(self->mu);
        if (self->owner == nullptr) return;
        self->owner->CheckFiles();
      }
      Arm(self);
    });
  }
};

AuthConfigReloader::AuthConfigReloader(const Options& options, RequestAuthenticator& authenticator,
                                       ServingCertificates& certs)
    : options_(options), authenticator_(authenticator), certs_(certs) {}

AuthConfigReloader::~AuthConfigReloader() { Stop(); }

std::string AuthConfigReloader::Stamp() const {
  std::string stamp;
  if (!options_.client_ca_file.empty()) stamp += FileStamp(options_.client_ca_file);
  stamp += "|";
  if (!options_.requestheader_client_ca_file.empty()) {
    stamp += FileStamp(options_.requestheader_client_ca_file);
  }
  return stamp;
}

base::Status AuthConfigReloader::Apply(
    std::shared_ptr<const kube::AuthenticationConfig> from_cluster) {
  base::MutexLock lock(mu_);
  from_cluster_ = std::move(from_cluster);
  // Taken before reading, so a change while reading is seen by the next check.
  stamp_ = Stamp();
  auto merged = options_.AuthenticationConfig(from_cluster_.get());
  if (!merged.ok()) return base::Status::Error("authentication config: " + merged.error());
  auto compiled = CompiledAuthConfig::Compile(*merged);
  if (!compiled.ok()) return base::Status::Error("authentication config: " + compiled.error());
  authenticator_.SetConfig(*compiled);
  certs_.SetClientCas({merged->client_ca_pem, merged->requestheader_client_ca_pem});
  spdlog::info("authentication config applied (client CA: {}, front proxy: {})",
               merged->client_ca_pem.empty() ? "no" : "yes",
               merged->requestheader_client_ca_pem.empty() ? "no" : "yes");
  return base::Status::Ok();
}

bool AuthConfigReloader::CheckFiles() {
  std::shared_ptr<const kube::AuthenticationConfig> from_cluster;
  {
    base::MutexLock lock(mu_);
    if (Stamp() == stamp_) return false;
    from_cluster = from_cluster_;
  }
  spdlog::info("client CA file changed: reloading");
  if (base::Status st = Apply(std::move(from_cluster)); !st.ok()) {
    spdlog::error("{} (keeping the previous one)", st.message());
  }
  return true;
}

void AuthConfigReloader::Start(boost::asio::io_context& io, std::chrono::milliseconds interval) {
  if (timer_ != nullptr) return;
  timer_ = std::make_shared<Timer>(io);
  timer_->interval = interval;
  {
    // Not shared with another thread yet; the lock only satisfies the annotation.
    base::MutexLock lock(timer_->mu);
    timer_->owner = this;
  }
  Timer::Arm(timer_);
}

void AuthConfigReloader::Stop() {
  if (timer_ == nullptr) return;
  {
    base::MutexLock lock(timer_->mu);
    timer_->owner = nullptr;
  }
  // The timer object is used by its handler on the io thread: cancel it there.
  boost::asio::post(timer_->timer.get_executor(), [timer = timer_] { timer->timer.cancel(); });
  timer_.reset();
}

}  // namespace apiserver
