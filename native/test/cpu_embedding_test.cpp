// Tests for cpu/embedding.h: row gather and token-id checks.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "cpu/embedding.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;

TEST(CpuEmbedding, GathersRows) {
  const int V = 11, C = 5;
  const auto table = lp::cpu::testing::randn((size_t)V * C, 1);
  const std::vector<int32_t> tok = {3, 0, 10, 3};
  std::vector<float> out(tok.size() * C);
  embedding_forward(out.data(), tok.data(), table.data(), (int)tok.size(), V, C);
  for (size_t n = 0; n < tok.size(); ++n)
    for (int c = 0; c < C; ++c) EXPECT_EQ(out[n * C + c], table[(size_t)tok[n] * C + c]);
}

TEST(CpuEmbedding, RejectsOutOfRangeIds) {
  const int V = 4, C = 2;
  std::vector<float> table(V * C), out(2 * C);
  const std::vector<int32_t> bad_hi = {0, 4}, bad_lo = {-1, 0};
  EXPECT_THROW(embedding_forward(out.data(), bad_hi.data(), table.data(), 2, V, C), lp::Error);
  EXPECT_THROW(embedding_forward(out.data(), bad_lo.data(), table.data(), 2, V, C), lp::Error);
}

}  // namespace
