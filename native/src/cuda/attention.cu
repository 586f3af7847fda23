// cuda/attention.cu: causal attention with GQA, packed-document segments and an optional sliding
// window (cpu/attention.h), FlashAttention-2 style so memory stays linear in T:
//   forward:  a block owns 32 query rows of one (row b, head h); K/V stream through shared memory in
//             tiles of 32 keys; online softmax (running max and sum) keeps one output row per query;
//             only lse (B*T, NH) is saved.
//   backward: D = rowsum(dO * O) first; then a block owns 32 key rows of one (row b, kv head g) and
//             streams the queries of every head in g's group in tiles: P from lse, dV += P^T dO,
//             dS = P (dP - D), dK += scale dS^T Q (registers, written once: no atomics), and the
//             tile's dQ += scale dS K is added to global memory with one atomic per element.
// Each query (or key) row is held by 4 threads, each owning head_dim/4 dimensions interleaved
// (d = 4i + lane) so that shared-memory reads are conflict-free; dot products finish with two shuffles.
// Arithmetic is fp32 (exp, not the fast approximations). Tiling: cuda/plan.h attention_plan. These
// kernels serve fp32 precision (and head_dim 256); bf16 precision takes the tensor-core variant in
// attention_tc.cu for the head dims it supports.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "cuda/segments.cuh"

namespace lp::cuda {
namespace {

constexpr int BQ = 32, BK = 32, LANES = 4, THREADS = BQ * LANES;

// Sum of the 4 lanes of a row group (lanes are adjacent threads).
__device__ inline float group_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  return v;
}

template <int HD>
__global__ void __launch_bounds__(THREADS)
    attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* seg,
                             int T, int NH, int NKV, int window, float scale) {
  constexpr int DPL = HD / LANES;
  extern __shared__ float smem[];
  float* Ks = smem;            // (BK, HD)
  float* Vs = smem + BK * HD;  // (BK, HD)
  __shared__ int32_t segk[BK];
  __shared__ int key_lo;

  const int row = threadIdx.x / LANES, lane = threadIdx.x % LANES;
  const int h = blockIdx.y, b = blockIdx.z, g = h / (NH / NKV);
  const int q0 = blockIdx.x * BQ, q_last = min(T, q0 + BQ) - 1;
  const int t = q0 + row;
  const bool valid = t < T;
  const int64_t base = static_cast<int64_t>(b) * T;
  const int32_t* seg_row = seg + base;
  if (threadIdx.x == 0) key_lo = first_visible_key(seg_row, q0, window);
  const int32_t segq = valid ? seg_row[t] : -1;

  float qr[DPL], acc[DPL];
  const float* qp = q + ((base + (valid ? t : q0)) * NH + h) * HD;
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    qr[i] = qp[i * LANES + lane];
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  __syncthreads();

  for (int k0 = key_lo; k0 <= q_last; k0 += BK) {
    for (int idx = threadIdx.x; idx < BK * HD; idx += THREADS) {
      const int j = k0 + idx / HD, d = idx % HD;
      const int64_t off = ((base + j) * NKV + g) * HD + d;
      Ks[idx] = j < T ? k[off] : 0.f;
      Vs[idx] = j < T ? v[off] : 0.f;
    }
    if (threadIdx.x < BK) segk[threadIdx.x] = k0 + threadIdx.x < T ? seg_row[k0 + threadIdx.x] : -2;
    __syncthreads();

    float s[BK];
    float mt = -INFINITY;
#pragma unroll
    for (int jj = 0; jj < BK; ++jj) {
      float part = 0.f;
#pragma unroll
      for (int i = 0; i < DPL; ++i) part += qr[i] * Ks[jj * HD + i * LANES + lane];
      const float full = group_sum(part);
      const int j = k0 + jj;
      const bool vis = valid && visible(t, j, segq, segk[jj], window);
      s[jj] = vis ? full * scale : -INFINITY;
      mt = fmaxf(mt, s[jj]);
    }
    const float mn = fmaxf(m, mt);
    if (mn != -INFINITY) {
      const float corr = m == -INFINITY ? 0.f : expf(m - mn);
      l *= corr;
#pragma unroll
      for (int i = 0; i < DPL; ++i) acc[i] *= corr;
#pragma unroll
      for (int jj = 0; jj < BK; ++jj) {
        const float p = s[jj] == -INFINITY ? 0.f : expf(s[jj] - mn);
        l += p;
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[i] += p * Vs[jj * HD + i * LANES + lane];
      }
      m = mn;
    }
    __syncthreads();
  }
  if (!valid) return;
  const float inv = 1.f / l;
  float* op = out + ((base + t) * NH + h) * HD;
#pragma unroll
  for (int i = 0; i < DPL; ++i) op[i * LANES + lane] = acc[i] * inv;
  if (lane == 0) lse[(base + t) * NH + h] = m + logf(l);
}

// D (B*T, NH) = rowsum(dO * O): one warp per (token, head).
__global__ void attention_rowsum_kernel(float* D, const float* dout, const float* out, int64_t rows, int HD) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (w >= rows) return;
  float s = 0.f;
  for (int d = lane; d < HD; d += 32) s += dout[w * HD + d] * out[w * HD + d];
  s = warp_sum(s);
  if (lane == 0) D[w] = s;
}

template <int HD>
__global__ void __launch_bounds__(THREADS)
    attention_backward_kernel(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* lse, const float* D, const int32_t* seg, int T, int NH,
                              int NKV, int window, float scale) {
  constexpr int DPL = HD / LANES;
  extern __shared__ float smem[];
  float* Ks = smem;                                        // (BK, HD)
  float* Qs = Ks + BK * HD;                                // (BQ, HD)
  float* dOs = Qs + BQ * HD;                               // (BQ, HD)
  float* dS = dOs + BQ * HD;                               // (BQ, BK + 1)
  float* lse_s = dS + BQ * (BK + 1);                       // (BQ)
  float* D_s = lse_s + BQ;                                 // (BQ)
  int32_t* segq_s = reinterpret_cast<int32_t*>(D_s + BQ);  // (BQ)
  __shared__ int query_hi;

  const int row = threadIdx.x / LANES, lane = threadIdx.x % LANES;
  const int g = blockIdx.y, b = blockIdx.z, rep = NH / NKV;
  const int k0 = blockIdx.x * BK, k_last = min(T, k0 + BK) - 1;
  const int j = k0 + row;
  const bool valid = j < T;
  const int64_t base = static_cast<int64_t>(b) * T;
  const int32_t* seg_row = seg + base;
  if (threadIdx.x == 0) query_hi = last_seeing_query(seg_row, k_last, T, window);
  const int32_t segk = valid ? seg_row[j] : -1;

  float kr[DPL], vr[DPL], dka[DPL], dva[DPL];
  const int64_t kv_off = ((base + (valid ? j : k0)) * NKV + g) * HD;
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    kr[i] = k[kv_off + i * LANES + lane];
    vr[i] = v[kv_off + i * LANES + lane];
    dka[i] = 0.f;
    dva[i] = 0.f;
  }
  for (int idx = threadIdx.x; idx < BK * HD; idx += THREADS) {
    const int jj = k0 + idx / HD;
    Ks[idx] = jj < T ? k[((base + jj) * NKV + g) * HD + idx % HD] : 0.f;
  }
  __syncthreads();

  for (int h = g * rep; h < (g + 1) * rep; ++h) {
    for (int q0 = k0; q0 <= query_hi; q0 += BQ) {
      for (int idx = threadIdx.x; idx < BQ * HD; idx += THREADS) {
        const int i = q0 + idx / HD, d = idx % HD;
        const int64_t off = ((base + i) * NH + h) * HD + d;
        Qs[idx] = i < T ? q[off] : 0.f;
        dOs[idx] = i < T ? dout[off] : 0.f;
      }
      if (threadIdx.x < BQ) {
        const int i = q0 + threadIdx.x;
        lse_s[threadIdx.x] = i < T ? lse[(base + i) * NH + h] : 0.f;
        D_s[threadIdx.x] = i < T ? D[(base + i) * NH + h] : 0.f;
        segq_s[threadIdx.x] = i < T ? seg_row[i] : -2;
      }
      __syncthreads();

      for (int ii = 0; ii < BQ; ++ii) {
        float ps = 0.f, pd = 0.f;
#pragma unroll
        for (int i = 0; i < DPL; ++i) {
          ps += kr[i] * Qs[ii * HD + i * LANES + lane];
          pd += vr[i] * dOs[ii * HD + i * LANES + lane];
        }
        const float sc = group_sum(ps), dp = group_sum(pd);
        const int i = q0 + ii;
        const bool vis = valid && i < T && visible(i, j, segq_s[ii], segk, window);
        const float p = vis ? expf(sc * scale - lse_s[ii]) : 0.f;
        const float ds = p * (dp - D_s[ii]);
#pragma unroll
        for (int d = 0; d < DPL; ++d) {
          dva[d] += p * dOs[ii * HD + d * LANES + lane];
          dka[d] += ds * Qs[ii * HD + d * LANES + lane];
        }
        if (lane == 0) dS[ii * (BK + 1) + row] = ds * scale;
      }
      __syncthreads();

      // dQ tile (BQ, HD) += dS (BQ, BK) @ K tile (BK, HD)
      for (int idx = threadIdx.x; idx < BQ * HD; idx += THREADS) {
        const int ii = idx / HD, d = idx % HD, i = q0 + ii;
        if (i >= T) continue;
        float a = 0.f;
#pragma unroll 8
        for (int jj = 0; jj < BK; ++jj) a += dS[ii * (BK + 1) + jj] * Ks[jj * HD + d];
        if (a != 0.f) atomicAdd(dq + ((base + i) * NH + h) * HD + d, a);
      }
      __syncthreads();
    }
  }
  if (!valid) return;
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    dk[kv_off + i * LANES + lane] = dka[i] * scale;
    dv[kv_off + i * LANES + lane] = dva[i];
  }
}

// One query row over the cache rows j0..p: one block per head; scores through the workspace.
__global__ void attention_decode_kernel(float* out, const float* q, const float* kc, const float* vc, float* scores,
                                        int j0, int p, int NH, int NKV, int HS, int cap, float scale) {
  const int h = blockIdx.x, g = h / (NH / NKV), KVD = NKV * HS;
  const float* qh = q + static_cast<int64_t>(h) * HS;
  float* s = scores + static_cast<int64_t>(h) * cap;
  float mx = -INFINITY;
  for (int j = j0 + threadIdx.x; j <= p; j += blockDim.x) {
    const float* kj = kc + static_cast<int64_t>(j) * KVD + g * HS;
    float d = 0.f;
    for (int i = 0; i < HS; ++i) d += qh[i] * kj[i];
    s[j] = d * scale;
    mx = fmaxf(mx, s[j]);
  }
  mx = block_max(mx);
  float sum = 0.f;
  for (int j = j0 + threadIdx.x; j <= p; j += blockDim.x) sum += s[j] = expf(s[j] - mx);
  sum = block_sum(sum);
  __syncthreads();  // every score is written before any thread reads the others
  for (int i = threadIdx.x; i < HS; i += blockDim.x) {
    float o = 0.f;
    for (int j = j0; j <= p; ++j) o += s[j] * vc[static_cast<int64_t>(j) * KVD + g * HS + i];
    out[static_cast<int64_t>(h) * HS + i] = o / sum;
  }
}

void check_shapes(const char* fn, int B, int T, int NH, int NKV, int HS) {
  LP_CHECK(B >= 0 && T >= 0 && NH > 0 && NKV > 0 && HS > 0,
           fn << ": bad shape B=" << B << " T=" << T << " NH=" << NH << " NKV=" << NKV << " HS=" << HS);
  LP_CHECK(NH % NKV == 0, fn << ": NH=" << NH << " is not a multiple of NKV=" << NKV);
}

template <int HD>
void forward(Context& ctx, const AttentionPlan& plan, const AttentionGrids& gr, float* out, float* lse, const float* q,
             const float* k, const float* v, const int32_t* seg, int T, int NH, int NKV, int window, float scale) {
  auto kernel = attention_forward_kernel<HD>;
  LP_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(plan.fwd_smem)));
  kernel<<<dim3(gr.fwd_x, gr.fwd_y, gr.fwd_z), plan.threads, plan.fwd_smem, ctx.stream>>>(out, lse, q, k, v, seg, T, NH,
                                                                                          NKV, window, scale);
  LP_CUDA_LAUNCHED("attention_forward_kernel");
}

template <int HD>
void backward(Context& ctx, const AttentionPlan& plan, const AttentionGrids& gr, float* dq, float* dk, float* dv,
              const float* dout, const float* q, const float* k, const float* v, const float* lse, const float* D,
              const int32_t* seg, int T, int NH, int NKV, int window, float scale) {
  auto kernel = attention_backward_kernel<HD>;
  LP_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(plan.bwd_smem)));
  kernel<<<dim3(gr.bwd_x, gr.bwd_y, gr.bwd_z), plan.threads, plan.bwd_smem, ctx.stream>>>(
      dq, dk, dv, dout, q, k, v, lse, D, seg, T, NH, NKV, window, scale);
  LP_CUDA_LAUNCHED("attention_backward_kernel");
}

// The head dims the kernels are instantiated for (plan.h attention_head_dim_supported lists the same set).
#define LP_ATTENTION_HEAD_DIMS(X) X(16) X(32) X(64) X(96) X(128) X(256)

float scale_for(int HS) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(HS))); }

}  // namespace

void attention_forward(Context& ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* seg, int B, int T, int NH, int NKV, int HS, int window) {
  check_shapes("attention_forward", B, T, NH, NKV, HS);
  LP_CHECK(seg != nullptr, "attention_forward: the CUDA kernels need segment ids (the model always passes them)");
  if (B == 0 || T == 0) return;
  const float scale = scale_for(HS);
  if (ctx.bf16() && attention_tc_supported(HS)) {
    attention_tc_forward(ctx, out, lse, q, k, v, seg, B, T, NH, NKV, HS, window, scale);
    return;
  }
  const AttentionPlan plan = attention_plan(HS);
  const AttentionGrids gr = attention_grids(plan, B, T, NH, NKV);
  switch (HS) {
#define LP_FORWARD_CASE(D)                                                        \
  case D:                                                                         \
    forward<D>(ctx, plan, gr, out, lse, q, k, v, seg, T, NH, NKV, window, scale); \
    break;
    LP_ATTENTION_HEAD_DIMS(LP_FORWARD_CASE)
#undef LP_FORWARD_CASE
    default:
      LP_CHECK(false, "attention_forward: no kernel for head_dim " << HS);
  }
}

void attention_backward(Context& ctx, float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* q, const float* k, const float* v, const float* lse, const int32_t* seg, int B,
                        int T, int NH, int NKV, int HS, int window) {
  check_shapes("attention_backward", B, T, NH, NKV, HS);
  LP_CHECK(seg != nullptr, "attention_backward: the CUDA kernels need segment ids (the model always passes them)");
  if (B == 0 || T == 0) return;
  const int64_t rows = static_cast<int64_t>(B) * T * NH;
  ctx.attn_rowsum.grow(static_cast<size_t>(rows));
  const Launch lr{static_cast<unsigned>((rows * 32 + kThreads - 1) / kThreads), kThreads, 0};
  LP_LAUNCH(attention_rowsum_kernel, lr, ctx.stream, ctx.attn_rowsum.data(), dout, out, rows, HS);
  LP_CUDA_CHECK(cudaMemsetAsync(dq, 0, static_cast<size_t>(rows) * HS * sizeof(float), ctx.stream));
  const float scale = scale_for(HS);
  if (ctx.bf16() && attention_tc_supported(HS)) {
    attention_tc_backward(ctx, dq, dk, dv, dout, q, k, v, lse, ctx.attn_rowsum.data(), seg, B, T, NH, NKV, HS, window,
                          scale);
    return;
  }
  const AttentionPlan plan = attention_plan(HS);
  const AttentionGrids gr = attention_grids(plan, B, T, NH, NKV);
  switch (HS) {
#define LP_BACKWARD_CASE(D)                                                                                     \
  case D:                                                                                                       \
    backward<D>(ctx, plan, gr, dq, dk, dv, dout, q, k, v, lse, ctx.attn_rowsum.data(), seg, T, NH, NKV, window, \
                scale);                                                                                         \
    break;
    LP_ATTENTION_HEAD_DIMS(LP_BACKWARD_CASE)
#undef LP_BACKWARD_CASE
    default:
      LP_CHECK(false, "attention_backward: no kernel for head_dim " << HS);
  }
}

void attention_decode(Context& ctx, float* out, const float* q, const float* kcache, const float* vcache, int j0, int p,
                      int NH, int NKV, int HS) {
  check_shapes("attention_decode", 1, p + 1, NH, NKV, HS);
  const int cap = p + 1;
  ctx.decode_scores.grow(static_cast<size_t>(NH) * cap);
  const Launch l{static_cast<unsigned>(NH), kThreads, 0};
  LP_LAUNCH(attention_decode_kernel, l, ctx.stream, out, q, kcache, vcache, ctx.decode_scores.data(), j0, p, NH, NKV,
            HS, cap, scale_for(HS));
}

}  // namespace lp::cuda
