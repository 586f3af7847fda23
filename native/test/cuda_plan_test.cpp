// The CUDA backend's host-side decisions (cuda/plan.h), tested without a GPU: launch geometry,
// attention tiling and its shared memory against the limits of the GPUs we build for, and the
// workspace sizes.
#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "cuda/plan.h"

namespace lp::cuda {
namespace {

TEST(CudaPlan, ElementwiseLaunchCoversEveryElementAndCapsTheGrid) {
  EXPECT_EQ(elementwise_launch(0).blocks, 1u);  // a launch is never empty
  EXPECT_EQ(elementwise_launch(1).blocks, 1u);
  EXPECT_EQ(elementwise_launch(256).blocks, 1u);
  EXPECT_EQ(elementwise_launch(257).blocks, 2u);
  EXPECT_EQ(elementwise_launch(1000, 4).blocks, 1u);  // 250 threads' work
  EXPECT_EQ(elementwise_launch(1025, 4).blocks, 2u);
  const Launch big = elementwise_launch(int64_t{1} << 40);  // grid-stride loops take the rest
  EXPECT_EQ(big.blocks, kMaxGridX);
  EXPECT_EQ(big.threads, static_cast<unsigned>(kThreads));
  EXPECT_THROW(elementwise_launch(-1), Error);
  EXPECT_EQ(row_launch(4096).blocks, 4096u);
}

TEST(CudaPlan, AttentionTilesFitTheSharedMemoryOfA100AndH100) {
  constexpr size_t kSm80OptIn = 163 * 1024, kSm90OptIn = 227 * 1024, kDefault = 48 * 1024;
  for (int hd : {16, 32, 64, 96, 128, 256}) {
    const AttentionPlan p = attention_plan(hd);
    EXPECT_EQ(p.threads, p.block_q * p.lanes);
    EXPECT_EQ(hd % p.lanes, 0) << "each lane owns head_dim / 4 dimensions";
    EXPECT_LE(p.fwd_smem, kSm80OptIn) << hd;
    EXPECT_LE(p.bwd_smem, kSm80OptIn) << hd;
    EXPECT_LE(p.bwd_smem, kSm90OptIn) << hd;
  }
  // Llama 3 (head_dim 128): K and V tiles of 32 x 128 fp32 in the forward; the backward needs the opt-in.
  EXPECT_EQ(attention_plan(128).fwd_smem, 2u * 32 * 128 * 4);
  EXPECT_EQ(attention_plan(128).bwd_smem, (32u * 128 + 2 * 32 * 128 + 32 * 33 + 2 * 32) * 4 + 32 * 4);
  EXPECT_GT(attention_plan(128).bwd_smem, kDefault);
  EXPECT_LE(attention_plan(64).bwd_smem, kDefault);
}

TEST(CudaPlan, TensorCoreAttentionTilesFitTheSharedMemoryOfA100AndH100) {
  constexpr size_t kSm80OptIn = 163 * 1024, kStatic = 1024;  // the kernels' static shared memory stays under 1 KB
  for (int hd : {16, 32, 64, 96, 128}) {
    ASSERT_TRUE(attention_tc_supported(hd));
    const AttentionTcPlan p = attention_tc_plan(hd);
    EXPECT_EQ(hd % 16, 0) << "WMMA tiles are 16 wide";
    EXPECT_LE(p.fwd_smem + kStatic, kSm80OptIn) << hd;
    EXPECT_LE(p.bwd_smem + kStatic, kSm80OptIn) << hd;
    EXPECT_EQ(p.threads, 4 * 32);
    EXPECT_EQ(p.fwd_queries % 16 + p.bwd_keys % 16 + p.bwd_queries % 16, 0) << "each warp owns 16-row tiles";
  }
  // head_dim 128: Q, K, V in bf16 (48 KiB), S fp32 (16 KiB), P bf16 (8 KiB), O fp32 (32 KiB), row scales.
  EXPECT_EQ(attention_tc_plan(128).fwd_smem, 3u * 64 * 128 * 2 + 64 * 64 * 4 + 64 * 64 * 2 + 64 * 128 * 4 + 64 * 4);
  EXPECT_EQ(attention_tc_plan(128).bwd_smem, 155904u);
  for (int hd : {8, 48, 80, 256}) EXPECT_FALSE(attention_tc_supported(hd)) << hd;  // these take the fp32 kernels
  EXPECT_THROW(attention_tc_plan(256), Error);
}

TEST(CudaPlan, UnsupportedHeadDimIsNamed) {
  EXPECT_FALSE(attention_head_dim_supported(80));
  try {
    attention_plan(80);
    FAIL() << "head_dim 80 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("support head_dim 16, 32, 64, 96, 128 and 256, not 80"), std::string::npos)
        << e.what();
  }
}

TEST(CudaPlan, AttentionGridsTileQueriesPerHeadAndKeysPerKvHead) {
  const AttentionGrids g = attention_grids(attention_plan(128), 2, 2048, 32, 8);
  EXPECT_EQ(g.fwd_x, 64u);  // 2048 / 32 query tiles
  EXPECT_EQ(g.fwd_y, 32u);
  EXPECT_EQ(g.fwd_z, 2u);
  EXPECT_EQ(g.bwd_x, 64u);
  EXPECT_EQ(g.bwd_y, 8u);  // one block per kv head: GQA's dK, dV have a single writer
  EXPECT_EQ(attention_grids(attention_plan(64), 1, 33, 4, 4).fwd_x, 2u);
  EXPECT_THROW(attention_grids(attention_plan(64), 1, 33, 6, 4), Error);
}

TEST(CudaPlan, WorkspaceHoldsTheLargestProjectionAndOperand) {
  // Llama 3.1 8B at 2048 tokens: the largest projection is 14336 x 4096; lm_head chunks of 261 rows of
  // 128256 logits (a larger bf16 operand than any projection's).
  const WorkspacePlan bf = workspace_plan(2048, 14336, 14336, int64_t{14336} * 4096, 32, 261, 128256, true);
  EXPECT_EQ(bf.weight, size_t{14336} * 4096);
  EXPECT_EQ(bf.act_cast, size_t{261} * 128256);
  EXPECT_EQ(bf.attn_rowsum, size_t{2048} * 32);
  EXPECT_EQ(bf.bytes(true),
            size_t{14336} * 4096 * 2 + size_t{261} * 128256 * 2 + 261 * 4 + 2048 * 32 * 4 + (size_t{32} << 20));
  // Short sequences: the projections' operand is the larger one.
  EXPECT_EQ(workspace_plan(8192, 14336, 14336, int64_t{14336} * 4096, 32, 261, 128256, true).act_cast,
            size_t{8192} * 14336);
  const WorkspacePlan f = workspace_plan(2048, 14336, 14336, int64_t{14336} * 4096, 32, 261, 128256, false);
  EXPECT_EQ(f.act_cast, 0u);  // fp32 GEMMs read the activations as they are
  EXPECT_EQ(f.bytes(false) - f.cublas_bytes, size_t{14336} * 4096 * 4 + 261 * 4 + 2048 * 32 * 4);
}

}  // namespace
}  // namespace lp::cuda
