// model/rope_tables.cpp: RoPE tables. Every product and sum is rounded where PyTorch rounds it (no FMA
// contraction in this file), because an ulp in inv_freq grows with the position.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "model/rope_tables.h"

#include <cmath>
#include <cstddef>

#include "core/check.h"
#include "core/parallel.h"

namespace lp {

void rope_inv_freq(float* inv_freq, int head_dim, double theta) {
  LP_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope_inv_freq: head_dim=" << head_dim << " must be even");
  LP_CHECK(theta > 0, "rope_inv_freq: theta=" << theta);
  const float base = static_cast<float>(theta);  // the Python scalar becomes an fp32 tensor operand
  for (int i = 0; i < head_dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float p = static_cast<float>(std::pow(static_cast<double>(base), static_cast<double>(e)));
    inv_freq[i] = 1.0f / p;
  }
}

void rope_llama3_scaling(float* inv_freq, int head_dim, double factor, double low_freq_factor, double high_freq_factor,
                         double original_max_position_embeddings) {
  LP_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope_llama3_scaling: head_dim=" << head_dim << " must be even");
  LP_CHECK(factor > 0 && high_freq_factor != low_freq_factor && original_max_position_embeddings > 0,
           "rope_llama3_scaling: bad parameters factor=" << factor << " low=" << low_freq_factor
                                                         << " high=" << high_freq_factor
                                                         << " old=" << original_max_position_embeddings);
  const double old = original_max_position_embeddings;
  // Python scalars are doubles; each meets an fp32 tensor, so it is rounded to fp32 there.
  const float low_wavelen = static_cast<float>(old / low_freq_factor);
  const float high_wavelen = static_cast<float>(old / high_freq_factor);
  const float two_pi = static_cast<float>(6.283185307179586);  // 2 * math.pi
  const float factor_f = static_cast<float>(factor);
  const float old_f = static_cast<float>(old);
  const float low_f = static_cast<float>(low_freq_factor);
  const float span_f = static_cast<float>(high_freq_factor - low_freq_factor);
  for (int i = 0; i < head_dim / 2; ++i) {
    const float inv = inv_freq[i];
    const float wavelen = (1.0f / inv) * two_pi;  // 2*math.pi / t == t.reciprocal() * (2*math.pi)
    const float llama = wavelen > low_wavelen ? inv / factor_f : inv;
    const float smooth = ((1.0f / wavelen) * old_f - low_f) / span_f;
    const float smoothed = ((1.0f - smooth) * llama) / factor_f + smooth * llama;
    const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    inv_freq[i] = medium ? smoothed : llama;
  }
}

void rope_cos_sin(float* cos, float* sin, const int32_t* position_ids, int N, const float* inv_freq, int head_dim,
                  float attention_scaling) {
  LP_CHECK(N >= 0 && head_dim > 0 && head_dim % 2 == 0, "rope_cos_sin: bad shape N=" << N << " head_dim=" << head_dim);
  const int half = head_dim / 2;
  LP_OMP(parallel for if ((long)N * half > (1 << 14)))
  for (int n = 0; n < N; ++n) {
    const float pos = static_cast<float>(position_ids[n]);
    for (int i = 0; i < half; ++i) {
      const float angle = inv_freq[i] * pos;  // one fp32 product, as the K=1 matmul in HF
      const float c = static_cast<float>(std::cos(static_cast<double>(angle)));
      const float s = static_cast<float>(std::sin(static_cast<double>(angle)));
      cos[(size_t)n * half + i] = c * attention_scaling;
      sin[(size_t)n * half + i] = s * attention_scaling;
    }
  }
}

}  // namespace lp
