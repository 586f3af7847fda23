// cuda/plan.h: the CUDA backend's host-side decisions, in plain C++ so they are unit tested on any
// machine: launch geometry of every kernel, the attention tiling and its shared memory, and the sizes
// of the backend's reused workspace. Provides Launch, elementwise_launch, row_launch, AttentionPlan,
// attention_plan, attention_grids and WorkspacePlan.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lp::cuda {

struct Launch {
  unsigned blocks = 0, threads = 0;
  size_t smem = 0;  // dynamic shared memory, bytes
};

constexpr int kThreads = 256;             // elementwise and row kernels
constexpr unsigned kMaxGridX = 1u << 20;  // grid-stride loops cover the rest (well under the 2^31-1 limit)
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // NVIDIA's recommendation for Hopper

// n independent elements, `per_thread` handled by each thread (grid-stride beyond kMaxGridX blocks).
Launch elementwise_launch(int64_t n, int per_thread = 1);
// One block per row (RMSNorm, cross-entropy): rows blocks of kThreads.
Launch row_launch(int rows);

// FlashAttention-style tiling: a block owns block_q query rows (forward) or block_k key rows (backward),
// 4 threads per row, each holding head_dim / 4 interleaved dimensions of its row in registers; the other
// side streams through shared memory in tiles. Memory is linear in T: only (T, NH) log-sum-exps and
// (T, NH) rowsum(dO * O) are kept besides q, k, v, out.
struct AttentionPlan {
  int head_dim = 0;
  int block_q = 32, block_k = 32, lanes = 4;
  int threads = 128;    // block_q * lanes (= block_k * lanes)
  size_t fwd_smem = 0;  // K and V tiles
  size_t bwd_smem = 0;  // K tile, Q and dO tiles, dS (block_q x (block_k + 1)), lse, D, segment ids
};
// Head dims the kernels are instantiated for.
bool attention_head_dim_supported(int head_dim);  // 16, 32, 64, 96, 128, 256
// Throws lp::Error naming the head dim and the supported ones when it is not supported.
AttentionPlan attention_plan(int head_dim);

// The tensor-core variant (attention_tc.cu, bf16 precision): 4 warps; the forward takes 64 queries
// per block and 64-key tiles, the backward 64 keys per block and 32-query tiles; bf16 tiles and fp32
// scores and accumulators in shared memory.
struct AttentionTcPlan {
  int head_dim = 0;
  int threads = 128;
  int fwd_queries = 64, fwd_keys = 64;
  int bwd_keys = 64, bwd_queries = 32;
  size_t fwd_smem = 0;  // Q, K, V tiles (bf16), S (fp32), P (bf16), O (fp32), row scales
  size_t bwd_smem = 0;  // K, V, Q, dO tiles (bf16), S^T and dP^T (fp32), P^T and dS^T (bf16), dK, dV, dQ (fp32), lse, D
};
bool attention_tc_supported(int head_dim);        // multiples of 16 up to 128 (WMMA tiles; shared memory fits sm_80)
AttentionTcPlan attention_tc_plan(int head_dim);  // throws for an unsupported head dim

struct AttentionGrids {
  unsigned fwd_x, fwd_y, fwd_z;  // (query tiles, NH, B)
  unsigned bwd_x, bwd_y, bwd_z;  // (key tiles, NKV, B)
};
AttentionGrids attention_grids(const AttentionPlan& p, int B, int T, int NH, int NKV);

// The backend's reused scratch for the largest call so far, in elements of each buffer's type.
struct WorkspacePlan {
  size_t weight = 0;        // one dequantized projection (max out*in), bf16 (fp32 in fp32 mode)
  size_t act_cast = 0;      // a GEMM's activation operand in bf16: N * max(in, out), or a chunk of dlogits; 0 in fp32
  size_t row_loss = 0;      // per-row cross-entropy losses of one lm_head chunk (rows)
  size_t attn_rowsum = 0;   // rowsum(dO * O) for the attention backward (N * NH)
  size_t cublas_bytes = 0;  // cuBLAS workspace
  size_t bytes(bool bf16) const;
};
// N tokens, the widest projection max_in x max_out and its largest weight (out*in), NH heads, the
// lm_head chunk rows and the vocabulary; bf16 = the default precision (fp32 mode skips the bf16 copies).
WorkspacePlan workspace_plan(int64_t N, int64_t max_in, int64_t max_out, int64_t max_weight, int NH, int chunk_rows,
                             int64_t V, bool bf16);

}  // namespace lp::cuda
