// cuda/plan.cpp: launch geometry, attention tiling and workspace sizes (see plan.h).
#include "cuda/plan.h"

#include <algorithm>

#include "core/check.h"

namespace lp::cuda {

Launch elementwise_launch(int64_t n, int per_thread) {
  LP_CHECK(n >= 0 && per_thread > 0, "elementwise_launch: n=" << n << " per_thread=" << per_thread);
  const int64_t work = (n + per_thread - 1) / per_thread;
  const int64_t blocks = std::max<int64_t>(1, (work + kThreads - 1) / kThreads);
  return {static_cast<unsigned>(std::min<int64_t>(blocks, kMaxGridX)), kThreads, 0};
}

Launch row_launch(int rows) {
  LP_CHECK(rows >= 0, "row_launch: rows=" << rows);
  return {static_cast<unsigned>(std::max(rows, 1)), kThreads, 0};
}

bool attention_head_dim_supported(int hd) {
  return hd == 16 || hd == 32 || hd == 64 || hd == 96 || hd == 128 || hd == 256;
}

AttentionPlan attention_plan(int head_dim) {
  LP_CHECK(attention_head_dim_supported(head_dim),
           "the CUDA attention kernels support head_dim 16, 32, 64, 96, 128 and 256, not " << head_dim);
  AttentionPlan p;
  p.head_dim = head_dim;
  p.threads = p.block_q * p.lanes;
  const size_t f = sizeof(float);
  p.fwd_smem = 2 * static_cast<size_t>(p.block_k) * head_dim * f;
  p.bwd_smem = (static_cast<size_t>(p.block_k) * head_dim + 2 * static_cast<size_t>(p.block_q) * head_dim +
                static_cast<size_t>(p.block_q) * (p.block_k + 1) + 2 * static_cast<size_t>(p.block_q)) *
                   f +
               static_cast<size_t>(p.block_q) * sizeof(int32_t);
  return p;
}

bool attention_tc_supported(int hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 96 || hd == 128; }

AttentionTcPlan attention_tc_plan(int head_dim) {
  LP_CHECK(attention_tc_supported(head_dim),
           "the tensor-core attention kernels support head_dim 16, 32, 64, 96 and 128, not " << head_dim);
  AttentionTcPlan p;
  p.head_dim = head_dim;
  const size_t hd = static_cast<size_t>(head_dim), bf = 2, f = 4;
  const size_t fq = static_cast<size_t>(p.fwd_queries), fk = static_cast<size_t>(p.fwd_keys);
  p.fwd_smem = (fq + 2 * fk) * hd * bf + fq * fk * f + fq * fk * bf + fq * hd * f + fq * f;
  const size_t bk = static_cast<size_t>(p.bwd_keys), bq = static_cast<size_t>(p.bwd_queries);
  p.bwd_smem =
      (2 * bk + 2 * bq) * hd * bf + 2 * bk * bq * f + 2 * bk * bq * bf + 2 * bk * hd * f + bq * hd * f + 2 * bq * f;
  return p;
}

AttentionGrids attention_grids(const AttentionPlan& p, int B, int T, int NH, int NKV) {
  LP_CHECK(B > 0 && T > 0 && NH > 0 && NKV > 0 && NH % NKV == 0,
           "attention_grids: bad shape B=" << B << " T=" << T << " NH=" << NH << " NKV=" << NKV);
  return {static_cast<unsigned>((T + p.block_q - 1) / p.block_q), static_cast<unsigned>(NH),  static_cast<unsigned>(B),
          static_cast<unsigned>((T + p.block_k - 1) / p.block_k), static_cast<unsigned>(NKV), static_cast<unsigned>(B)};
}

size_t WorkspacePlan::bytes(bool bf16) const {
  return weight * (bf16 ? 2 : 4) + act_cast * 2 + row_loss * 4 + attn_rowsum * 4 + cublas_bytes;
}

WorkspacePlan workspace_plan(int64_t N, int64_t max_in, int64_t max_out, int64_t max_weight, int NH, int chunk_rows,
                             int64_t V, bool bf16) {
  LP_CHECK(N >= 0 && max_in > 0 && max_out > 0 && max_weight > 0 && NH > 0 && chunk_rows >= 0 && V > 0,
           "workspace_plan: bad sizes N=" << N << " in=" << max_in << " out=" << max_out);
  WorkspacePlan w;
  w.weight = static_cast<size_t>(max_weight);
  // The lm_head's backward casts a chunk of dlogits (rows, V); the projections cast (N, in) or (N, out).
  w.act_cast = bf16 ? static_cast<size_t>(std::max(N * std::max(max_in, max_out), chunk_rows * V)) : 0;
  w.row_loss = static_cast<size_t>(chunk_rows);
  w.attn_rowsum = static_cast<size_t>(N) * NH;
  w.cublas_bytes = kCublasWorkspaceBytes;
  return w;
}

}  // namespace lp::cuda
