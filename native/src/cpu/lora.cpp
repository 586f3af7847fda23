// cpu/lora.cpp: LoRA branch forward/backward on sgemm, plus the dropout keep-mask.
#include "cpu/lora.h"

#include <array>
#include <cstddef>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "cpu/gemm.h"

namespace lp::cpu {
namespace {

// torch's CPU dropout: noise = bernoulli(1 - p) / (1 - p) in fp32, out = x * noise.
inline float keep_scale(float p) { return 1.0f / static_cast<float>(1.0 - static_cast<double>(p)); }

// xd (N*in) = x * mask * keep_scale
void apply_dropout(float* xd, const float* x, const uint8_t* mask, int64_t n, float s) {
  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i] * (mask[i] ? s : 0.0f);
}

void check_shapes(const char* fn, int N, int in, int r, int out, float p) {
  LP_CHECK(N >= 0 && in > 0 && r > 0 && out > 0,
           fn << ": bad shape N=" << N << " in=" << in << " r=" << r << " out=" << out);
  LP_CHECK(p >= 0.0f && p < 1.0f, fn << ": dropout p=" << p << " must be in [0, 1)");
}

}  // namespace

void lora_dropout_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) {
  LP_CHECK(n >= 0, "lora_dropout_mask: n=" << n);
  LP_CHECK(p >= 0.0f && p < 1.0f, "lora_dropout_mask: p=" << p << " must be in [0, 1)");
  // Rng::uniform(i) is word i % 4 of Philox block i / 4: draw each block once for its four words.
  const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const int64_t nblocks = (n + 3) / 4;
  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint64_t ub = static_cast<uint64_t>(b);
    const std::array<uint32_t, 4> w = philox4x32({static_cast<uint32_t>(ub), static_cast<uint32_t>(ub >> 32),
                                                  static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                                 key);
    for (int u = 0; u < 4 && b * 4 + u < n; ++u) {
      const float uni = static_cast<float>(w[u] >> 8) * 0x1.0p-24f;
      mask[b * 4 + u] = uni >= p ? 1 : 0;
    }
  }
}

void lora_forward(float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p, const float* A,
                  const float* B, int N, int in, int r, int out, float scale) {
  check_shapes("lora_forward", N, in, r, out, dropout_p);
  const float* u = x;  // drop(x) (N, in)
  if (mask != nullptr) {
    LP_CHECK(xd != nullptr, "lora_forward: dropout needs the xd scratch buffer (N, in)");
    apply_dropout(xd, x, mask, (int64_t)N * in, keep_scale(dropout_p));
    u = xd;
  }
  // h (N, r) = u (N, in) @ A^T, A (r, in)
  sgemm(false, true, N, r, in, 1.0f, u, in, A, in, 0.0f, h, r);
  // y (N, out) += scale * h (N, r) @ B^T, B (out, r)
  sgemm(false, true, N, out, r, scale, h, r, B, r, 1.0f, y, out);
}

void lora_backward(float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                   const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N, int in,
                   int r, int out, float scale) {
  check_shapes("lora_backward", N, in, r, out, dropout_p);
  LP_CHECK(mask == nullptr || xd != nullptr, "lora_backward: dropout needs the xd scratch buffer (N, in)");
  // dB (out, r) += scale * dy^T (out, N) @ h (N, r)
  sgemm(true, false, out, r, N, scale, dy, out, h, r, 1.0f, dB, r);
  // dh (N, r) = scale * dy (N, out) @ B (out, r)
  sgemm(false, false, N, r, out, scale, dy, out, B, r, 0.0f, dh, r);
  const float* u = x;
  const float s = keep_scale(dropout_p);
  if (mask != nullptr) {
    apply_dropout(xd, x, mask, (int64_t)N * in, s);
    u = xd;
  }
  // dA (r, in) += dh^T (r, N) @ u (N, in)
  sgemm(true, false, r, in, N, 1.0f, dh, r, u, in, 1.0f, dA, in);
  if (dx == nullptr) return;
  if (mask == nullptr) {
    // dx (N, in) += dh (N, r) @ A (r, in)
    sgemm(false, false, N, in, r, 1.0f, dh, r, A, in, 1.0f, dx, in);
    return;
  }
  // du = dh @ A into xd, then dx += du * mask * s (dropout backward).
  sgemm(false, false, N, in, r, 1.0f, dh, r, A, in, 0.0f, xd, in);
  const int64_t n = (int64_t)N * in;
  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t i = 0; i < n; ++i) dx[i] += xd[i] * (mask[i] ? s : 0.0f);
}

}  // namespace lp::cpu
