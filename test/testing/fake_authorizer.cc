#include "test/testing/fake_authorizer.h"

#include <utility>

namespace testing_support {

void FakeAuthorizer::Authorize(kube::Attributes attributes,
                               std::function<void(base::Result<kube::Decision>)> done) {
  Answer answer;
  {
    base::MutexLock lock(mu_);
    ++calls_;
    last_ = std::move(attributes);
    answer = answer_;
  }
  switch (answer) {
    case Answer::kAllow:
      return done(kube::Decision{true, ""});
    case Answer::kDeny:
      return done(kube::Decision{false, "no RBAC policy matched"});
    case Answer::kError:
      return done(base::MakeError("subjectaccessreview: connection refused"));
  }
}

void FakeAuthorizer::set_answer(Answer answer) {
  base::MutexLock lock(mu_);
  answer_ = answer;
}

int FakeAuthorizer::calls() const {
  base::MutexLock lock(mu_);
  return calls_;
}

kube::Attributes FakeAuthorizer::last() const {
  base::MutexLock lock(mu_);
  return last_;
}

}  // namespace testing_support
