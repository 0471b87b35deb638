#include "base/shared_string.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <ostream>
#include <stdexcept>

namespace base {

SharedString::SharedString(std::string_view s) {
  if (s.empty()) return;
  if (s.size() > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("SharedString longer than 4 GiB");
  }
  void* memory = ::operator new(sizeof(Rep) + s.size() + 1);
  rep_ = new (memory) Rep{{1}, static_cast<uint32_t>(s.size())};
  char* out = reinterpret_cast<char*>(rep_ + 1);
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
}

void SharedString::Unref() noexcept {
  if (rep_ == nullptr) return;
  if (rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    rep_->~Rep();
    ::operator delete(rep_);
  }
  rep_ = nullptr;
}

std::ostream& operator<<(std::ostream& out, const SharedString& s) { return out << s.view(); }

}  // namespace base
