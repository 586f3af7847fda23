// model/rope_tables.h: the host-side tables of rotary position embeddings as transformers' Llama/Qwen2/
// Mistral compute them: inv_freq (default and llama3 rope_type) and per-token cos/sin for given
// position_ids (packed sequences restart positions per document). The model computes them on the host
// and copies them into its backend, whose rope_forward/rope_backward rotate q and k with them.
// Since the two halves of HF's emb = cat(freqs, freqs) are equal, tables store only head_dim/2 columns.
#pragma once
#include <cstdint>

namespace lp {

// inv_freq (head_dim/2) = 1 / theta^(2i / head_dim) in fp32, replaying
// `1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))`:
// exponent 2i/dim rounded to fp32, theta rounded to fp32, pow correctly rounded, then 1/x in fp32.
// head_dim must be even.
void rope_inv_freq(float* inv_freq, int head_dim, double theta);

// rope_type "llama3" (Llama 3.1+): rescales inv_freq (head_dim/2) in place, replaying transformers'
// _compute_llama3_parameters op by op in fp32 with
//   wavelen = 2*pi / inv_freq;  wavelen > old/low_freq_factor -> inv_freq / factor;
//   wavelen < old/high_freq_factor -> unchanged;  otherwise, with s = (old/wavelen - low) / (high - low),
//   (1 - s) * inv_freq / factor + s * inv_freq.   (old = original_max_position_embeddings)
void rope_llama3_scaling(float* inv_freq, int head_dim, double factor, double low_freq_factor, double high_freq_factor,
                         double original_max_position_embeddings);

// Per-token tables for N tokens: cos, sin (N, head_dim/2):
//   cos[n][i] = cos(position_ids[n] * inv_freq[i]) * attention_scaling  (sin likewise)
// with the angle rounded to fp32 (as HF's fp32 matmul of inv_freq and positions) and cos/sin
// correctly rounded. attention_scaling is 1 for default and llama3 RoPE.
void rope_cos_sin(float* cos, float* sin, const int32_t* position_ids, int N, const float* inv_freq, int head_dim,
                  float attention_scaling = 1.0f);

}  // namespace lp
