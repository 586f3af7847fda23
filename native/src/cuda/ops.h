// cuda/ops.h: the CUDA operations the backend dispatches to, one .cu file each (forward and backward
// together), with the same contracts as the cpu/ op of the same name (cpu/*.h) unless noted. Every
// pointer is device memory; every call is asynchronous on ctx.stream unless it returns a host value.
#pragma once
#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "core/loss.h"
#include "cuda/context.h"
#include "quant/quant4.h"

namespace lp::cuda {

// gemm.cu: C (M, N) = alpha * op(A) @ op(B) + beta * C, row-major, C fp32; A and B fp32 or bf16 (both
// the same). fp32 operands run as FAST_16BF in bf16 precision, as plain fp32 in fp32 precision.
enum class Elem { F32, BF16 };
void gemm(Context& ctx, bool transA, bool transB, int M, int N, int K, float alpha, const void* A, int lda,
          const void* B, int ldb, Elem ab, float beta, float* C, int ldc);
void cast_to_bf16(Context& ctx, __nv_bfloat16* out, const float* in, int64_t n);

// dequant.cu: a frozen weight on the device (4-bit blocks + absmax state, or dense: bf16 in bf16
// precision, fp32 in fp32), and its dequantization into ctx.weight; returns the pointer (a dense
// weight's own). dense_table: a dense weight's data and whether it is bf16.
std::unique_ptr<FrozenWeight> upload_weight(Context& ctx, Backend& be, const QuantState* qs, const float* dense,
                                            int out, int in);
const void* dequantize(Context& ctx, const FrozenWeight& w);
struct DenseTable {
  const void* data;
  bool bf16;
};
DenseTable dense_table(const FrozenWeight& w);
// out (n) fp32 = the 4-bit weight, exactly as QuantState::dequantize (for the tests).
void dequantize_f32(Context& ctx, const FrozenWeight& w, float* out);

// linear.cu
void linear_forward(Context& ctx, float* y, const float* x, const FrozenWeight& W, const float* b, int N);
void linear_backward(Context& ctx, float* dx, const float* dy, const FrozenWeight& W, int N, bool accumulate);

// lora.cu
void lora_dropout_mask(Context& ctx, uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream);
void lora_forward(Context& ctx, float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p,
                  const float* A, const float* B, int N, int in, int r, int out, float scale);
void lora_backward(Context& ctx, float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                   const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N, int in,
                   int r, int out, float scale);

// rmsnorm.cu
void rmsnorm_forward(Context& ctx, float* out, float* rstd, const float* x, const float* weight, int N, int C,
                     float eps);
void rmsnorm_backward(Context& ctx, float* dx, const float* dout, const float* x, const float* weight,
                      const float* rstd, int N, int C, bool accumulate);

// rope.cu
void rope_forward(Context& ctx, float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads,
                  int head_dim);
void rope_backward(Context& ctx, float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                   int head_dim);

// attention.cu (FlashAttention-style; cuda/plan.h AttentionPlan). seg is required and its ids must not
// decrease along a row (as model/segments.h makes them).
void attention_forward(Context& ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* seg, int B, int T, int NH, int NKV, int HS, int window);
void attention_backward(Context& ctx, float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* q, const float* k, const float* v, const float* lse, const int32_t* seg, int B,
                        int T, int NH, int NKV, int HS, int window);
void attention_decode(Context& ctx, float* out, const float* q, const float* kcache, const float* vcache, int j0, int p,
                      int NH, int NKV, int HS);

// attention_tc.cu: the same forward and backward on bf16 tensor cores, which attention_forward and
// attention_backward take in bf16 precision when attention_tc_supported(HS). rowsum = rowsum(dO * O).
void attention_tc_forward(Context& ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                          const int32_t* seg, int B, int T, int NH, int NKV, int HS, int window, float scale);
void attention_tc_backward(Context& ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                           const float* k, const float* v, const float* lse, const float* rowsum, const int32_t* seg,
                           int B, int T, int NH, int NKV, int HS, int window, float scale);

// swiglu.cu
void swiglu_forward(Context& ctx, float* out, const float* gate, const float* up, int64_t n);
void swiglu_backward(Context& ctx, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     int64_t n);

// embedding.cu: rows of a dense frozen table (bf16 or fp32, as upload_weight keeps it) into fp32.
void embedding_forward(Context& ctx, float* out, const int32_t* tokens, const FrozenWeight& table, int N);

// add.cu
void add(Context& ctx, float* out, const float* a, const float* b, int64_t n);

// cross_entropy.cu: one block per row, the vocabulary streamed in one pass for max and sum (online
// softmax) and one for the gradient; returns the host sums (a stream synchronisation).
CrossEntropySum cross_entropy(Context& ctx, float* logits, const int32_t* labels, int N, int V, float scale,
                              bool backward);

// adamw.cu: AdamW as cpu/adamw.h (the scalar factors computed on the host the same way) and the
// global gradient norm with clipping (host results: a synchronisation).
void adamw_step(Context& ctx, float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr,
                double beta1, double beta2, double eps, double weight_decay);
double grad_global_norm(Context& ctx, const float* const* grads, const int64_t* sizes, int count);
float clip_grad_norm(Context& ctx, float* const* grads, const int64_t* sizes, int count, double max_norm);

}  // namespace lp::cuda
