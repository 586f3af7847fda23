// cpu/attention.h: causal multi-head self-attention with grouped-query heads (GQA), packed-sequence
// document masking and an optional sliding window; forward saves only the log-sum-exp per
// (token, head), backward recomputes the probabilities (FlashAttention-2 style, O(T) memory per
// query row). Softmax in fp32 with max subtraction; attention scale head_dim^-0.5.
//
// Layout: B rows of T tokens, token t of row b at index n = b*T + t.
//   q   (B*T, NH, HS)    after RoPE          out (B*T, NH, HS)  (reshape to (B*T, NH*HS) for o_proj)
//   k,v (B*T, NKV, HS)   after RoPE (k)      lse (B*T, NH)
// Query head h reads kv head h / (NH / NKV) (HF's repeat_kv). NH must be a multiple of NKV.
//
// Visibility: query t sees key j of the same row iff j <= t, j and t lie in the same segment (a
// maximal run of equal consecutive seg ids, i.e. one packed document), and window <= 0 or
// t - j < window (Mistral/Qwen2 sliding_window). seg == nullptr: the whole row is one segment; the model
// makes seg from position_ids (model/segments.h).
#pragma once
#include <cstdint>

namespace lp::cpu {

// Forward. Overwrites out (B*T, NH, HS) and lse (B*T, NH); SAVE lse (and keep q, k, v) for backward.
//   out = softmax(q k^T * HS^-0.5 + mask) v;  lse = log(sum_j exp(s_j)) of the scaled scores.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* seg,
                       int B, int T, int NH, int NKV, int HS, int window);

// Backward from dout (B*T, NH, HS) and the forward's inputs and lse.
// Overwrites dq (B*T, NH, HS), dk and dv (B*T, NKV, HS) (the n_rep query heads that share a kv
// head are summed into it). dq/dk/dv must not alias the inputs.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* lse, const int32_t* seg, int B, int T, int NH, int NKV, int HS,
                        int window);

// One query row (generation with a KV cache): out (NH, HS) = softmax(q k^T * HS^-0.5) v for q (NH, HS)
// over the cache rows j0..p (inclusive) of kcache, vcache (rows of NKV*HS, after RoPE for k).
void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int j0, int p, int NH,
                      int NKV, int HS);

}  // namespace lp::cpu
