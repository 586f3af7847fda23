// cpu/cross_entropy.cpp: chunked online-softmax cross-entropy, rows in parallel.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")  // lets the exp_f32 loops vectorise (see cpu/vec_math.h)
#endif
#include "cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/vec_math.h"

namespace lp::cpu {
namespace {

constexpr int kChunk = 2048;  // 8 KB of logits: max and exp-sum passes hit L1

// log(sum(exp(x))) over one row of V logits in one sweep: per chunk, its max, rescale of the
// running sum when the max grows, and the chunk's exp-sum in 8 double lanes.
double row_logsumexp(const float* x, int V) {
  float m = -std::numeric_limits<float>::infinity();
  double s = 0.0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    const int c1 = std::min(V, c0 + kChunk);
    float mx[8];
    for (int u = 0; u < 8; ++u) mx[u] = -std::numeric_limits<float>::infinity();
    int j = c0;
    for (; j + 8 <= c1; j += 8)
      for (int u = 0; u < 8; ++u) mx[u] = x[j + u] > mx[u] ? x[j + u] : mx[u];
    for (; j < c1; ++j) mx[0] = x[j] > mx[0] ? x[j] : mx[0];
    float cm = mx[0];
    for (int u = 1; u < 8; ++u) cm = mx[u] > cm ? mx[u] : cm;
    if (cm > m) {
      s = (s == 0.0) ? 0.0 : s * std::exp(static_cast<double>(m) - static_cast<double>(cm));
      m = cm;
    }
    if (m == -std::numeric_limits<float>::infinity()) continue;  // all -inf so far: nothing to add
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    j = c0;
    for (; j + 8 <= c1; j += 8)
      for (int u = 0; u < 8; ++u) lanes[u] += exp_f32(x[j + u] - m);
    for (; j < c1; ++j) lanes[0] += exp_f32(x[j] - m);
    s += ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  }
  return static_cast<double>(m) + std::log(s);
}

void row_grad(float* d, const float* x, float lse, int label, int V, float scale) {
  for (int j = 0; j < V; ++j) d[j] = exp_f32(x[j] - lse) * scale;
  d[label] -= scale;
}

void check_labels(const char* fn, const int32_t* labels, int N, int V) {
  for (int n = 0; n < N; ++n)
    LP_CHECK(labels[n] == kIgnoreIndex || (labels[n] >= 0 && labels[n] < V),
             fn << ": label " << labels[n] << " at row " << n << " outside [0, " << V << ") and not -100");
}

CrossEntropySum total(const std::vector<float>& losses, const int32_t* labels, int N) {
  CrossEntropySum r;
  for (int n = 0; n < N; ++n)
    if (labels[n] != kIgnoreIndex) {
      r.loss_sum += losses[n];
      r.n_valid += 1;
    }
  return r;
}

}  // namespace

CrossEntropySum cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* labels, int N,
                                      int V) {
  LP_CHECK(N >= 0 && V > 0, "cross_entropy_forward: bad shape N=" << N << " V=" << V);
  check_labels("cross_entropy_forward", labels, N, V);
  std::vector<float> row_loss(N);
  LP_OMP(parallel for schedule(static) if ((long)N * V > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    const float* x = logits + (size_t)n * V;
    const double l = row_logsumexp(x, V);
    if (lse) lse[n] = static_cast<float>(l);
    row_loss[n] = labels[n] == kIgnoreIndex ? 0.0f : static_cast<float>(l - static_cast<double>(x[labels[n]]));
  }
  if (losses) std::copy(row_loss.begin(), row_loss.end(), losses);
  return total(row_loss, labels, N);
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* labels, int N, int V,
                            float scale) {
  LP_CHECK(N >= 0 && V > 0, "cross_entropy_backward: bad shape N=" << N << " V=" << V);
  LP_CHECK(N == 0 || lse != nullptr, "cross_entropy_backward: needs the forward's lse (N)");
  check_labels("cross_entropy_backward", labels, N, V);
  LP_OMP(parallel for schedule(static) if ((long)N * V > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    float* d = dlogits + (size_t)n * V;
    if (labels[n] == kIgnoreIndex)
      std::fill(d, d + V, 0.0f);
    else
      row_grad(d, logits + (size_t)n * V, lse[n], labels[n], V, scale);
  }
}

CrossEntropySum cross_entropy_fused(float* dlogits, float* losses, const float* logits, const int32_t* labels, int N,
                                    int V, float scale) {
  LP_CHECK(N >= 0 && V > 0, "cross_entropy_fused: bad shape N=" << N << " V=" << V);
  check_labels("cross_entropy_fused", labels, N, V);
  std::vector<float> row_loss(N);
  LP_OMP(parallel for schedule(static) if ((long)N * V > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    const float* x = logits + (size_t)n * V;
    float* d = dlogits + (size_t)n * V;
    if (labels[n] == kIgnoreIndex) {
      row_loss[n] = 0.0f;
      std::fill(d, d + V, 0.0f);
      continue;
    }
    const double l = row_logsumexp(x, V);
    row_loss[n] = static_cast<float>(l - static_cast<double>(x[labels[n]]));
    row_grad(d, x, static_cast<float>(l), labels[n], V, scale);
  }
  if (losses) std::copy(row_loss.begin(), row_loss.end(), losses);
  return total(row_loss, labels, N);
}

}  // namespace lp::cpu
