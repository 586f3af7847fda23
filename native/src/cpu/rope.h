// cpu/rope.h: the rotate_half rotation of q/k by rotary position embeddings as transformers' Llama/
// Qwen2/Mistral apply them, and its backward (the transposed rotation). The cos/sin tables come from
// model/rope_tables.h.
//
// Convention (HF): emb = cat(freqs, freqs), rotate_half(x) = cat(-x[d/2:], x[:d/2]),
// x' = x * cos + rotate_half(x) * sin. For i < d/2, with c = cos_i, s = sin_i:
//   x'[i] = x[i] c - x[i + d/2] s,   x'[i + d/2] = x[i + d/2] c + x[i] s.
// Since the two halves of emb are equal, tables store only d/2 columns.
#pragma once
#include <cstdint>

namespace lp::cpu {

// out (N, n_heads, head_dim) = rotation of inp (N, n_heads, head_dim) with token n's row of cos/sin
// (N, head_dim/2). out may alias inp (in place). Used for q (n_heads) and k (n_kv_heads).
void rope_forward(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads, int head_dim);

// dinp (N, n_heads, head_dim) = transposed rotation of dout: for i < d/2,
//   dinp[i] = dout[i] c + dout[i + d/2] s,   dinp[i + d/2] = dout[i + d/2] c - dout[i] s.
// Overwrites dinp; dinp may alias dout (in place).
void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                   int head_dim);

}  // namespace lp::cpu
