// FakeApiserverTest: the fixture of the tests that talk to the fake kube-apiserver: the fake, an
// ApiClient of it on one io thread, and a ManualClock with a scheduler on virtual time for the
// retry waits of informers and watchers.
//
// A derived fixture that owns objects the io thread may still use (informers, caches) destroys
// them and calls StopIo() in its destructor.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "base/clock.h"
#include "kube/client.h"
#include "test/kube/fake_kube_apiserver.h"
#include "test/testing/io_threads.h"
#include "test/testing/virtual_time_scheduler.h"

namespace kube::fake {

class FakeApiserverTest : public ::testing::Test {
 protected:
  FakeApiserverTest() {
    auto client = ApiClient::Create(io_.io, fake_.Config());
    EXPECT_TRUE(client.ok()) << client.error();
    if (client.ok()) client_ = std::move(client.value());
  }
  ~FakeApiserverTest() override { StopIo(); }

  // Destroys the client and joins the io thread. Idempotent.
  void StopIo() {
    client_.reset();
    io_.Stop();
  }

  FakeKubeApiserver fake_;
  base::ManualClock clock_;
  testing_support::IoThreads io_{1};
  testing_support::VirtualTimeScheduler scheduler_{io_.io, clock_};
  std::unique_ptr<ApiClient> client_;
};

}  // namespace kube::fake
