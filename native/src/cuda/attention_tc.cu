// cuda/attention_tc.cu: the attention of attention.cu on bf16 tensor cores (WMMA 16x16x16 with fp32
// accumulation), used in bf16 precision for head dims that are multiples of 16 up to 128. Same
// FlashAttention-2 structure and contract; tiles are converted to bf16 as they enter shared memory;
// scores, softmax statistics and every accumulator stay fp32.
//   forward:  a block = 64 query rows of one (b, h), 4 warps of 16 rows. Per 64-key tile: S = Q K^T
//             (tensor cores) -> masked online softmax by two lanes per row -> P (bf16) -> the warp's
//             rows of O (fp32 in shared memory) rescaled, then O += P V (tensor cores).
//   backward: a block = 64 keys of one (b, kv head g), 4 warps of 16 keys, over every head of g's
//             group and 32-query tiles: S^T = K Q^T, dP^T = V dO^T, P^T and dS^T = P^T (dP^T - D)
//             * scale (bf16), dV += P^T dO, dK += dS^T Q (fp32 in shared memory, written once), and
//             dQ = dS K for the tile, added to global memory with one atomic per element.
// Tiling and shared memory: cuda/plan.h attention_tc_plan.
#include <mma.h>

#include <cmath>

#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "cuda/segments.cuh"

namespace lp::cuda {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
constexpr int kWarps = 4, kThreadsTc = kWarps * 32;

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragACol = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// rows x HD of a (B*T, heads, HD) fp32 tensor into shared memory as bf16; rows past T are zeros.
template <int HD>
__device__ inline void load_tile(bf16* dst, const float* src, int64_t base, int first, int rows, int T, int heads,
                                 int head) {
  for (int idx = threadIdx.x; idx < rows * HD; idx += blockDim.x) {
    const int t = first + idx / HD;
    dst[idx] = __float2bfloat16_rn(t < T ? src[((base + t) * heads + head) * HD + idx % HD] : 0.f);
  }
}

template <int HD>
__global__ void __launch_bounds__(kThreadsTc)
    attention_tc_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                const int32_t* seg, int T, int NH, int NKV, int window, float scale) {
  constexpr int BQ = 64, BK = 64, NF = HD / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);       // (BQ, HD)
  bf16* Ks = Qs + BQ * HD;                            // (BK, HD)
  bf16* Vs = Ks + BK * HD;                            // (BK, HD)
  float* S = reinterpret_cast<float*>(Vs + BK * HD);  // (BQ, BK)
  bf16* P = reinterpret_cast<bf16*>(S + BQ * BK);     // (BQ, BK)
  float* O = reinterpret_cast<float*>(P + BQ * BK);   // (BQ, HD)
  float* corr = O + BQ * HD;                          // (BQ)
  __shared__ int32_t segk[BK], segq[BQ];
  __shared__ int key_lo;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.y, b = blockIdx.z, g = h / (NH / NKV);
  const int q0 = blockIdx.x * BQ, q_last = min(T, q0 + BQ) - 1;
  const int64_t base = static_cast<int64_t>(b) * T;
  const int32_t* seg_row = seg + base;
  load_tile<HD>(Qs, q, base, q0, BQ, T, NH, h);
  for (int idx = threadIdx.x; idx < BQ * HD; idx += blockDim.x) O[idx] = 0.f;
  if (threadIdx.x < BQ) segq[threadIdx.x] = q0 + threadIdx.x < T ? seg_row[q0 + threadIdx.x] : -1;
  if (threadIdx.x == 0) key_lo = first_visible_key(seg_row, q0, window);
  __syncthreads();

  // Two lanes per row: lane / 2 is the warp's row, lane % 2 the half of the key tile it scores.
  const int r = warp * 16 + lane / 2, half = lane % 2, t = q0 + r;
  float m = -INFINITY, l = 0.f;
  for (int k0 = key_lo; k0 <= q_last; k0 += BK) {
    load_tile<HD>(Ks, k, base, k0, BK, T, NKV, g);
    load_tile<HD>(Vs, v, base, k0, BK, T, NKV, g);
    if (threadIdx.x < BK) segk[threadIdx.x] = k0 + threadIdx.x < T ? seg_row[k0 + threadIdx.x] : -2;
    __syncthreads();

    // S (the warp's 16 rows, BK) = Q K^T
    for (int n = 0; n < BK / 16; ++n) {
      FragC c;
      wmma::fill_fragment(c, 0.f);
      for (int kk = 0; kk < NF; ++kk) {
        FragA a;
        FragBCol bk;
        wmma::load_matrix_sync(a, Qs + warp * 16 * HD + kk * 16, HD);
        wmma::load_matrix_sync(bk, Ks + n * 16 * HD + kk * 16, HD);
        wmma::mma_sync(c, a, bk, c);
      }
      wmma::store_matrix_sync(S + warp * 16 * BK + n * 16, c, BK, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of row r over its visible keys.
    float* srow = S + r * BK + half * 32;
    float tmax = -INFINITY;
    for (int c = 0; c < 32; ++c) {
      const int jj = half * 32 + c, j = k0 + jj;
      const float sv = t < T && j < T && visible(t, j, segq[r], segk[jj], window) ? srow[c] * scale : -INFINITY;
      srow[c] = sv;
      tmax = fmaxf(tmax, sv);
    }
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    const float mn = fmaxf(m, tmax);
    const float cr = m == -INFINITY ? 0.f : expf(m - mn);
    float psum = 0.f;
    for (int c = 0; c < 32; ++c) {
      const float p = srow[c] == -INFINITY ? 0.f : expf(srow[c] - mn);
      P[r * BK + half * 32 + c] = __float2bfloat16_rn(p);
      psum += p;
    }
    psum += __shfl_xor_sync(0xffffffffu, psum, 1);
    l = l * cr + psum;
    m = mn;
    if (half == 0) corr[r] = cr;
    __syncwarp();
    for (int idx = lane; idx < 16 * HD; idx += 32)
      O[(warp * 16 + idx / HD) * HD + idx % HD] *= corr[warp * 16 + idx / HD];
    __syncwarp();

    // O (the warp's 16 rows, HD) += P V
    for (int n = 0; n < NF; ++n) {
      FragC c;
      wmma::load_matrix_sync(c, O + warp * 16 * HD + n * 16, HD, wmma::mem_row_major);
      for (int kk = 0; kk < BK / 16; ++kk) {
        FragA a;
        FragBRow bv;
        wmma::load_matrix_sync(a, P + warp * 16 * BK + kk * 16, BK);
        wmma::load_matrix_sync(bv, Vs + kk * 16 * HD + n * 16, HD);
        wmma::mma_sync(c, a, bv, c);
      }
      wmma::store_matrix_sync(O + warp * 16 * HD + n * 16, c, HD, wmma::mem_row_major);
    }
    __syncthreads();  // K, V and segk are reloaded next
  }
  if (t >= T) return;
  const float inv = 1.f / l;
  float* op = out + ((base + t) * NH + h) * HD;
  for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); ++d) op[d] = O[r * HD + d] * inv;
  if (half == 0) lse[(base + t) * NH + h] = m + logf(l);
}

template <int HD>
__global__ void __launch_bounds__(kThreadsTc)
    attention_tc_backward_kernel(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                 const float* v, const float* lse, const float* D, const int32_t* seg, int T, int NH,
                                 int NKV, int window, float scale) {
  constexpr int BK = 64, BQ = 32, NF = HD / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);          // (BK, HD)
  bf16* Vs = Ks + BK * HD;                               // (BK, HD)
  bf16* Qs = Vs + BK * HD;                               // (BQ, HD)
  bf16* dOs = Qs + BQ * HD;                              // (BQ, HD)
  float* St = reinterpret_cast<float*>(dOs + BQ * HD);   // (BK, BQ) scores, key-major
  float* dPt = St + BK * BQ;                             // (BK, BQ)
  bf16* Pt = reinterpret_cast<bf16*>(dPt + BK * BQ);     // (BK, BQ)
  bf16* dSt = Pt + BK * BQ;                              // (BK, BQ), times scale
  float* dKs = reinterpret_cast<float*>(dSt + BK * BQ);  // (BK, HD)
  float* dVs = dKs + BK * HD;                            // (BK, HD)
  float* dQs = dVs + BK * HD;                            // (BQ, HD)
  float* lse_s = dQs + BQ * HD;                          // (BQ)
  float* D_s = lse_s + BQ;                               // (BQ)
  __shared__ int32_t segk[BK], segq[BQ];
  __shared__ int query_hi;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = blockIdx.y, b = blockIdx.z, rep = NH / NKV;
  const int k0 = blockIdx.x * BK, k_last = min(T, k0 + BK) - 1;
  const int64_t base = static_cast<int64_t>(b) * T;
  const int32_t* seg_row = seg + base;
  load_tile<HD>(Ks, k, base, k0, BK, T, NKV, g);
  load_tile<HD>(Vs, v, base, k0, BK, T, NKV, g);
  for (int idx = threadIdx.x; idx < BK * HD; idx += blockDim.x) dKs[idx] = dVs[idx] = 0.f;
  if (threadIdx.x < BK) segk[threadIdx.x] = k0 + threadIdx.x < T ? seg_row[k0 + threadIdx.x] : -2;
  if (threadIdx.x == 0) query_hi = last_seeing_query(seg_row, k_last, T, window);
  __syncthreads();

  for (int h = g * rep; h < (g + 1) * rep; ++h) {
    for (int q0 = k0; q0 <= query_hi; q0 += BQ) {
      load_tile<HD>(Qs, q, base, q0, BQ, T, NH, h);
      load_tile<HD>(dOs, dout, base, q0, BQ, T, NH, h);
      if (threadIdx.x < BQ) {
        const int i = q0 + threadIdx.x;
        lse_s[threadIdx.x] = i < T ? lse[(base + i) * NH + h] : 0.f;
        D_s[threadIdx.x] = i < T ? D[(base + i) * NH + h] : 0.f;
        segq[threadIdx.x] = i < T ? seg_row[i] : -1;
      }
      __syncthreads();

      // S^T and dP^T for the warp's 16 keys: K Q^T and V dO^T, (16, BQ) each.
      for (int n = 0; n < BQ / 16; ++n) {
        FragC cs, cp;
        wmma::fill_fragment(cs, 0.f);
        wmma::fill_fragment(cp, 0.f);
        for (int kk = 0; kk < NF; ++kk) {
          FragA ak, av;
          FragBCol bq, bo;
          wmma::load_matrix_sync(ak, Ks + warp * 16 * HD + kk * 16, HD);
          wmma::load_matrix_sync(bq, Qs + n * 16 * HD + kk * 16, HD);
          wmma::mma_sync(cs, ak, bq, cs);
          wmma::load_matrix_sync(av, Vs + warp * 16 * HD + kk * 16, HD);
          wmma::load_matrix_sync(bo, dOs + n * 16 * HD + kk * 16, HD);
          wmma::mma_sync(cp, av, bo, cp);
        }
        wmma::store_matrix_sync(St + warp * 16 * BQ + n * 16, cs, BQ, wmma::mem_row_major);
        wmma::store_matrix_sync(dPt + warp * 16 * BQ + n * 16, cp, BQ, wmma::mem_row_major);
      }
      __syncwarp();
      // P^T = exp(S^T * scale - lse) where visible; dS^T = P^T (dP^T - D) * scale.
      for (int e = lane; e < 16 * BQ; e += 32) {
        const int kr = warp * 16 + e / BQ, qc = e % BQ, j = k0 + kr, i = q0 + qc, idx = kr * BQ + qc;
        const bool vis = j < T && i < T && visible(i, j, segq[qc], segk[kr], window);
        const float p = vis ? expf(St[idx] * scale - lse_s[qc]) : 0.f;
        Pt[idx] = __float2bfloat16_rn(p);
        dSt[idx] = __float2bfloat16_rn(p * (dPt[idx] - D_s[qc]) * scale);
      }
      __syncwarp();
      // dV += P^T dO and dK += dS^T Q for the warp's 16 keys.
      for (int n = 0; n < NF; ++n) {
        FragC cv, ck;
        wmma::load_matrix_sync(cv, dVs + warp * 16 * HD + n * 16, HD, wmma::mem_row_major);
        wmma::load_matrix_sync(ck, dKs + warp * 16 * HD + n * 16, HD, wmma::mem_row_major);
        for (int kk = 0; kk < BQ / 16; ++kk) {
          FragA ap, as;
          FragBRow bo, bq;
          wmma::load_matrix_sync(ap, Pt + warp * 16 * BQ + kk * 16, BQ);
          wmma::load_matrix_sync(bo, dOs + kk * 16 * HD + n * 16, HD);
          wmma::mma_sync(cv, ap, bo, cv);
          wmma::load_matrix_sync(as, dSt + warp * 16 * BQ + kk * 16, BQ);
          wmma::load_matrix_sync(bq, Qs + kk * 16 * HD + n * 16, HD);
          wmma::mma_sync(ck, as, bq, ck);
        }
        wmma::store_matrix_sync(dVs + warp * 16 * HD + n * 16, cv, HD, wmma::mem_row_major);
        wmma::store_matrix_sync(dKs + warp * 16 * HD + n * 16, ck, HD, wmma::mem_row_major);
      }
      __syncthreads();  // every warp's dS^T is in place

      // dQ (BQ, HD) = dS K: dS is dS^T read column-major. 2 x NF output tiles over the 4 warps.
      for (int f = warp; f < 2 * NF; f += kWarps) {
        const int rb = f / NF, n = f % NF;
        FragC c;
        wmma::fill_fragment(c, 0.f);
        for (int kk = 0; kk < BK / 16; ++kk) {
          FragACol a;
          FragBRow bk;
          wmma::load_matrix_sync(a, dSt + kk * 16 * BQ + rb * 16, BQ);
          wmma::load_matrix_sync(bk, Ks + kk * 16 * HD + n * 16, HD);
          wmma::mma_sync(c, a, bk, c);
        }
        wmma::store_matrix_sync(dQs + rb * 16 * HD + n * 16, c, HD, wmma::mem_row_major);
      }
      __syncthreads();
      for (int idx = threadIdx.x; idx < BQ * HD; idx += blockDim.x) {
        const int i = q0 + idx / HD;
        const float a = dQs[idx];
        if (i < T && a != 0.f) atomicAdd(dq + ((base + i) * NH + h) * HD + idx % HD, a);
      }
      __syncthreads();  // Q, dO, dQs and the statistics are reloaded next
    }
  }
  for (int idx = threadIdx.x; idx < BK * HD; idx += blockDim.x) {
    const int j = k0 + idx / HD;
    if (j >= T) continue;
    const int64_t off = ((base + j) * NKV + g) * HD + idx % HD;
    dk[off] = dKs[idx];
    dv[off] = dVs[idx];
  }
}

template <int HD>
void tc_forward(Context& ctx, const AttentionTcPlan& p, int B, int T, int NH, int NKV, float* out, float* lse,
                const float* q, const float* k, const float* v, const int32_t* seg, int window, float scale) {
  auto kernel = attention_tc_forward_kernel<HD>;
  LP_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(p.fwd_smem)));
  const dim3 grid((T + p.fwd_queries - 1) / p.fwd_queries, NH, B);
  kernel<<<grid, p.threads, p.fwd_smem, ctx.stream>>>(out, lse, q, k, v, seg, T, NH, NKV, window, scale);
  LP_CUDA_LAUNCHED("attention_tc_forward_kernel");
}

template <int HD>
void tc_backward(Context& ctx, const AttentionTcPlan& p, int B, int T, int NH, int NKV, float* dq, float* dk, float* dv,
                 const float* dout, const float* q, const float* k, const float* v, const float* lse, const float* D,
                 const int32_t* seg, int window, float scale) {
  auto kernel = attention_tc_backward_kernel<HD>;
  LP_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(p.bwd_smem)));
  const dim3 grid((T + p.bwd_keys - 1) / p.bwd_keys, NKV, B);
  kernel<<<grid, p.threads, p.bwd_smem, ctx.stream>>>(dq, dk, dv, dout, q, k, v, lse, D, seg, T, NH, NKV, window,
                                                      scale);
  LP_CUDA_LAUNCHED("attention_tc_backward_kernel");
}

#define LP_TC_HEAD_DIMS(X) X(16) X(32) X(64) X(96) X(128)

}  // namespace

void attention_tc_forward(Context& ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                          const int32_t* seg, int B, int T, int NH, int NKV, int HS, int window, float scale) {
  const AttentionTcPlan p = attention_tc_plan(HS);
  switch (HS) {
#define LP_TC_FORWARD(HDV)                                                         \
  case HDV:                                                                        \
    tc_forward<HDV>(ctx, p, B, T, NH, NKV, out, lse, q, k, v, seg, window, scale); \
    break;
    LP_TC_HEAD_DIMS(LP_TC_FORWARD)
#undef LP_TC_FORWARD
    default:
      LP_CHECK(false, "attention_tc_forward: no kernel for head_dim " << HS);
  }
}

void attention_tc_backward(Context& ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                           const float* k, const float* v, const float* lse, const float* rowsum, const int32_t* seg,
                           int B, int T, int NH, int NKV, int HS, int window, float scale) {
  const AttentionTcPlan p = attention_tc_plan(HS);
  switch (HS) {
#define LP_TC_BACKWARD(HDV)                                                                              \
  case HDV:                                                                                              \
    tc_backward<HDV>(ctx, p, B, T, NH, NKV, dq, dk, dv, dout, q, k, v, lse, rowsum, seg, window, scale); \
    break;
    LP_TC_HEAD_DIMS(LP_TC_BACKWARD)
#undef LP_TC_BACKWARD
    default:
      LP_CHECK(false, "attention_tc_backward: no kernel for head_dim " << HS);
  }
}

}  // namespace lp::cuda
