// FakeAuthorizer: a kube::Authorizer (the SubjectAccessReview seam) that gives every request
// the same answer, at once and on the caller's thread, and records what it was asked.
//
// Thread-safety: Authorize() may run on any thread (a server's io threads) while the test sets
// the answer or reads the record.
#pragma once

#include "base/mutex.h"
#include "kube/auth.h"

namespace testing_support {

class FakeAuthorizer final : public kube::Authorizer {
 public:
  enum class Answer {
    kAllow,  // Decision{allowed}
    kDeny,   // Decision{denied, "no RBAC policy matched"}
    kError,  // "subjectaccessreview: connection refused": the authorizer could not answer
  };

  explicit FakeAuthorizer(Answer answer = Answer::kAllow) : answer_(answer) {}

  void Authorize(kube::Attributes attributes,
                 std::function<void(base::Result<kube::Decision>)> done) override;

  void set_answer(Answer answer);
  // Calls of Authorize() so far.
  int calls() const;
  // The attributes of the latest call (default-constructed before the first).
  kube::Attributes last() const;

 private:
  mutable base::Mutex mu_;
  Answer answer_ GUARDED_BY(mu_);
  int calls_ GUARDED_BY(mu_) = 0;
  kube::Attributes last_ GUARDED_BY(mu_);
};

}  // namespace testing_support
