// Tests for cpu/cross_entropy.h: loss sum and valid count with ignored labels against a double
// reference, chunked vocabularies (the row maximum in a late chunk), backward against the closed
// form and central finite differences, the fused call and in-place gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "cpu/cross_entropy.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;
using lp::CrossEntropySum;
using lp::kIgnoreIndex;

struct RefRow {
  double lse, loss;
};

RefRow ref_row(const float* x, int V, int label) {
  double m = -1e300;
  for (int j = 0; j < V; ++j) m = std::max(m, (double)x[j]);
  double s = 0;
  for (int j = 0; j < V; ++j) s += std::exp((double)x[j] - m);
  const double lse = m + std::log(s);
  return {lse, label < 0 ? 0.0 : lse - x[label]};
}

void check_case(int N, int V, float spread) {
  auto logits = randn((size_t)N * V, 1 + V, spread);
  std::vector<int32_t> labels(N);
  for (int n = 0; n < N; ++n) labels[n] = (n % 3 == 1) ? kIgnoreIndex : (n * 7919 + 13) % V;
  // Put some rows' maxima in the last chunk so the online rescaling is exercised.
  for (int n = 0; n < N; n += 2) logits[(size_t)n * V + V - 1] = 4.0f * spread + 3.0f;
  std::vector<float> losses(N, 9.0f), lse(N);
  const CrossEntropySum r = cross_entropy_forward(losses.data(), lse.data(), logits.data(), labels.data(), N, V);
  double ref_sum = 0;
  int64_t ref_count = 0;
  for (int n = 0; n < N; ++n) {
    const RefRow rr = ref_row(logits.data() + (size_t)n * V, V, labels[n]);
    EXPECT_NEAR(lse[n], rr.lse, 1e-6 * std::fabs(rr.lse) + 1e-6) << "V=" << V << " row " << n;
    if (labels[n] == kIgnoreIndex) {
      EXPECT_EQ(losses[n], 0.0f);
    } else {
      EXPECT_NEAR(losses[n], rr.loss, 2e-6 * std::fabs(rr.loss) + 1e-6) << "V=" << V << " row " << n;
      ref_sum += rr.loss;
      ++ref_count;
    }
  }
  EXPECT_EQ(r.n_valid, ref_count);
  EXPECT_NEAR(r.loss_sum, ref_sum, 2e-6 * std::fabs(ref_sum));

  // Backward against softmax - onehot in double; ignored rows are zero.
  const float scale = 1.0f / (float)ref_count;
  std::vector<float> d((size_t)N * V, 5.0f);
  cross_entropy_backward(d.data(), logits.data(), lse.data(), labels.data(), N, V, scale);
  double worst = 0;
  for (int n = 0; n < N; ++n) {
    const RefRow rr = ref_row(logits.data() + (size_t)n * V, V, labels[n]);
    for (int j = 0; j < V; ++j) {
      double ref = 0;
      if (labels[n] != kIgnoreIndex)
        ref = (std::exp((double)logits[(size_t)n * V + j] - rr.lse) - (j == labels[n])) * scale;
      worst = std::max(worst, std::fabs(d[(size_t)n * V + j] - ref));
    }
  }
  EXPECT_LT(worst, 1e-6 * scale) << "V=" << V;

  // Fused == forward + backward; in place over the logits.
  std::vector<float> fused = logits, fl(N);
  const CrossEntropySum rf = cross_entropy_fused(fused.data(), fl.data(), fused.data(), labels.data(), N, V, scale);
  EXPECT_EQ(rf.n_valid, r.n_valid);
  EXPECT_NEAR(rf.loss_sum, r.loss_sum, 1e-12 * std::fabs(r.loss_sum));
  EXPECT_LT(max_rel_err(fused, d), 1e-6);
  EXPECT_LT(max_rel_err(fl, losses), 1e-6);
}

TEST(CpuCrossEntropy, SmallVocabularyWithIgnoredLabels) { check_case(7, 37, 2.0f); }

TEST(CpuCrossEntropy, VocabularyOverSeveralChunks) { check_case(6, 5000, 3.0f); }

TEST(CpuCrossEntropy, AllIgnored) {
  const int N = 3, V = 10;
  const auto logits = randn((size_t)N * V, 3);
  const std::vector<int32_t> labels(N, kIgnoreIndex);
  const CrossEntropySum r = cross_entropy_forward(nullptr, nullptr, logits.data(), labels.data(), N, V);
  EXPECT_EQ(r.n_valid, 0);
  EXPECT_EQ(r.loss_sum, 0.0);
  std::vector<float> d((size_t)N * V, 1.0f);
  cross_entropy_fused(d.data(), nullptr, logits.data(), labels.data(), N, V, 1.0f);
  for (float x : d) EXPECT_EQ(x, 0.0f);
}

TEST(CpuCrossEntropy, MaskedVocabularyWithMinusInfinity) {
  // The first chunks of the row are -inf (masked tokens): they contribute nothing and get zero gradient.
  const int V = 5000;
  auto logits = randn(V, 8);
  for (int j = 0; j < 3000; ++j) logits[j] = -INFINITY;
  const int32_t label = 4321;
  float lse = 0;
  const CrossEntropySum r = cross_entropy_forward(nullptr, &lse, logits.data(), &label, 1, V);
  double m = -1e300, s = 0;
  for (int j = 3000; j < V; ++j) m = std::max(m, (double)logits[j]);
  for (int j = 3000; j < V; ++j) s += std::exp(logits[j] - m);
  EXPECT_NEAR(lse, m + std::log(s), 1e-6);
  EXPECT_NEAR(r.loss_sum, m + std::log(s) - logits[label], 1e-5);
  std::vector<float> d(V);
  cross_entropy_backward(d.data(), logits.data(), &lse, &label, 1, V, 1.0f);
  for (int j = 0; j < 3000; ++j) ASSERT_EQ(d[j], 0.0f);
}

TEST(CpuCrossEntropy, BackwardMatchesFiniteDifferences) {
  const int N = 4, V = 23;
  auto logits = randn((size_t)N * V, 9, 2.0f);
  const std::vector<int32_t> labels = {3, kIgnoreIndex, 22, 0};
  std::vector<float> lse(N), d((size_t)N * V);
  const CrossEntropySum r = cross_entropy_forward(nullptr, lse.data(), logits.data(), labels.data(), N, V);
  const float scale = 1.0f / (float)r.n_valid;
  cross_entropy_backward(d.data(), logits.data(), lse.data(), labels.data(), N, V, scale);
  expect_grad_fd(
      "cross-entropy dlogits", logits, d,
      [&] { return cross_entropy_forward(nullptr, nullptr, logits.data(), labels.data(), N, V).loss_sum * scale; },
      1e-2f, 3e-3, 0.0, 100);
}

TEST(CpuCrossEntropy, RejectsOutOfRangeLabels) {
  const std::vector<float> logits(2 * 5, 0.0f);
  const std::vector<int32_t> bad = {1, 5}, neg = {-1, 0};
  EXPECT_THROW(cross_entropy_forward(nullptr, nullptr, logits.data(), bad.data(), 2, 5), lp::Error);
  EXPECT_THROW(cross_entropy_forward(nullptr, nullptr, logits.data(), neg.data(), 2, 5), lp::Error);
}

}  // namespace
