// Buffer<T> (backend/buffer.h) on the CPU backend: zeroed allocation, growth that keeps its memory,
// mirrors that alias host data, transfers; and the backend's memory accounting that StepStats reports.
#include <gtest/gtest.h>

#include <vector>

#include "backend/buffer.h"
#include "cpu/backend.h"

namespace lp {
namespace {

TEST(BackendBuffer, AllocatesZeroedAndReusesItsMemoryWhenItFits) {
  auto be = cpu::make_cpu_backend();
  Buffer<float> b(be.get());
  b.resize(100);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b.data()[i], 0.f);
  b.data()[3] = 7.f;
  float* p = b.data();
  b.resize(50);  // smaller: same memory, contents kept
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 50u);
  EXPECT_EQ(b.data()[3], 7.f);
  b.grow(80);  // within the capacity
  EXPECT_EQ(b.data(), p);
  b.grow(1000);  // beyond it: a new zeroed block
  EXPECT_EQ(b.size(), 1000u);
  EXPECT_EQ(b.data()[3], 0.f);
}

TEST(BackendBuffer, MirrorAliasesHostDataOnAHostVisibleBackend) {
  auto be = cpu::make_cpu_backend();
  const std::vector<float> host{1, 2, 3};
  Buffer<float> m(be.get());
  m.mirror(host);
  EXPECT_EQ(m.data(), host.data());
  EXPECT_EQ(be->memory().current, 0u);  // nothing allocated
  m.resize(2);                          // a view is never written through: resizing it allocates its own memory
  EXPECT_NE(m.data(), host.data());
}

TEST(BackendBuffer, UploadAndDownloadRoundTrip) {
  auto be = cpu::make_cpu_backend();
  Buffer<int32_t> b(be.get());
  b.upload(std::vector<int32_t>{4, 5, 6, 7});
  EXPECT_EQ(b.to_vector(), (std::vector<int32_t>{4, 5, 6, 7}));
  std::vector<int32_t> two(2);
  b.download(two.data(), 2);
  EXPECT_EQ(two, (std::vector<int32_t>{4, 5}));
  EXPECT_THROW(b.download(two.data(), 5), Error);
}

TEST(BackendBuffer, TheBackendCountsCurrentAndPeakBytes) {
  auto be = cpu::make_cpu_backend();
  {
    Buffer<float> a(be.get()), b(be.get());
    a.resize(1000);
    b.resize(500);
    EXPECT_EQ(be->memory().current, 6000u);
    EXPECT_EQ(be->memory().peak, 6000u);
  }
  EXPECT_EQ(be->memory().current, 0u);
  EXPECT_EQ(be->memory().peak, 6000u);
  be->reset_peak();
  EXPECT_EQ(be->memory().peak, 0u);
}

TEST(BackendBuffer, UnboundUseIsAnError) {
  Buffer<float> b;
  EXPECT_THROW(b.resize(4), Error);
}

}  // namespace
}  // namespace lp
