#include "kube/backoff.h"

#include <gtest/gtest.h>

namespace kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(BackoffTest, DoublesUpToTheCapWithoutJitter) {
  base::ManualClock clock;
  Backoff b(clock, {}, [] { return 0.0; });
  const int64_t want_ms[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (int64_t w : want_ms) {
    EXPECT_EQ(b.Next(), milliseconds(w));
    clock.Advance(seconds(1));
  }
}

TEST(BackoffTest, JitterAddsUpToFactorTimesDelay) {
  base::ManualClock clock;
  double u = 0.5;
  Backoff b(clock, {}, [&] { return u; });
  EXPECT_EQ(b.Next(), milliseconds(1200));  // 800 + 800*1.0*0.5
  u = 0.999;
  auto d = b.Next();  // base 1600
  EXPECT_GT(d, milliseconds(3190));
  EXPECT_LT(d, milliseconds(3200));
  u = 7.0;  // out-of-range jitter sources are clamped
  EXPECT_EQ(b.Next(), milliseconds(6400));
}

TEST(BackoffTest, ResetsAfterQuietPeriodOrExplicitly) {
  base::ManualClock clock;
  Backoff b(clock, {}, [] { return 0.0; });
  b.Next();
  b.Next();
  EXPECT_EQ(b.Next(), milliseconds(3200));
  clock.Advance(seconds(121));  // more than reset_after since the last failure
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1600));
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(800));
}

TEST(BackoffTest, TenMinuteOutageStaysBounded) {
  // Failures back to back for ten minutes of (virtual) time: every delay stays within
  // [initial, (1+jitter) x max], and the number of attempts is what a capped backoff gives.
  base::ManualClock clock;
  BackoffOptions opts;
  Backoff b(clock, opts, DefaultJitterSource());
  nanoseconds elapsed{0};
  int attempts = 0;
  while (elapsed < std::chrono::minutes(10)) {
    nanoseconds d = b.Next();
    ASSERT_GE(d, nanoseconds(opts.initial));
    ASSERT_LE(d, nanoseconds(opts.max) * 2);
    clock.Advance(d);
    elapsed += d;
    ++attempts;
  }
  EXPECT_GE(attempts, 10);  // at most 60 s apart once capped: 600 s / 60 s
  EXPECT_LE(attempts, 30);  // at least 30 s apart once capped, after ~6 growing steps
}

}  // namespace
}  // namespace kube
