// Tests for core/rng.h: Philox-4x32-10 known-answer vectors (Random123), addressing by
// (seed, stream, index), and the distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "core/rng.h"

TEST(CoreRng, PhiloxMatchesRandom123KnownAnswers) {
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(lp::philox4x32({0, 0, 0, 0}, {0, 0}), (A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(lp::philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(lp::philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(CoreRng, DrawsArePureFunctionsOfSeedStreamIndex) {
  const lp::Rng a(42, 0), b(42, 0), other_stream(42, 1), other_seed(43, 0);
  int same_stream = 0, same_seed = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(a.u32(i), b.u32(i));
    same_stream += a.u32(i) == other_stream.u32(i);
    same_seed += a.u32(i) == other_seed.u32(i);
  }
  EXPECT_LE(same_stream, 1);
  EXPECT_LE(same_seed, 1);

  // Any split of the work gives the same numbers: two threads filling halves == one fill.
  std::vector<float> whole(10000), split(10000);
  a.fill_normal(whole.data(), 10000, 0.0f, 1.0f);
  std::thread t1([&] { a.fill_normal(split.data(), 5000, 0.0f, 1.0f, 0); });
  std::thread t2([&] { a.fill_normal(split.data() + 5000, 5000, 0.0f, 1.0f, 5000); });
  t1.join();
  t2.join();
  EXPECT_EQ(whole, split);
}

TEST(CoreRng, UniformAndNormalHaveTheRightMoments) {
  const lp::Rng r(1234, 7);
  const int n = 200000;
  std::vector<float> u(n), g(n);
  r.fill_uniform(u.data(), n, -2.0f, 2.0f);
  r.fill_normal(g.data(), n, 1.0f, 0.5f);
  double su = 0, su2 = 0, sg = 0, sg2 = 0;
  for (int i = 0; i < n; ++i) {
    ASSERT_GE(u[i], -2.0f);
    ASSERT_LT(u[i], 2.0f);
    ASSERT_TRUE(std::isfinite(g[i]));
    su += u[i];
    su2 += double(u[i]) * u[i];
    sg += g[i];
    sg2 += double(g[i]) * g[i];
  }
  EXPECT_NEAR(su / n, 0.0, 0.02);
  EXPECT_NEAR(su2 / n, 16.0 / 12.0, 0.02);  // variance of U(-2, 2)
  EXPECT_NEAR(sg / n, 1.0, 0.01);
  EXPECT_NEAR(sg2 / n - (sg / n) * (sg / n), 0.25, 0.01);
  for (uint64_t i = 0; i < 100000; ++i) {
    const float x = r.uniform(i);
    ASSERT_TRUE(x >= 0.0f && x < 1.0f);
  }
}
