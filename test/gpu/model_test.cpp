// The whole model on the CUDA backend: every golden case's logits, loss and LoRA gradients against
// PyTorch + PEFT + bitsandbytes (test/reference/goldens), in fp32 precision (tight) and bf16 (the
// default); a trainer step on the GPU against the same step on the CPU backend; and a larger random
// model with packed rows, GQA and a long sequence, CPU backend vs CUDA backend.
#include <cstdio>

#include "gpu_test_util.h"
#include "model/llama.h"
#include "model/memory_estimate.h"
#include "core/rng.h"
#include "model_test_util.h"
#include "random_checkpoint.h"
#include "train/trainer.h"

namespace lp {
namespace {

using testing::Golden;
using testing::rel_err;

class CudaModelGolden : public ::testing::TestWithParam<const char*> {};

void expect_golden(const Golden& g, Precision precision, double tol_logits, double tol_loss, double tol_grad) {
  LoadOptions o = g.opts;
  o.backend = BackendKind::Cuda;
  o.precision = precision;
  const auto m = g.load(o);
  const char* p = precision == Precision::F32 ? "fp32" : "bf16";
  ASSERT_STREQ(m->backend().name(), "cuda");
  std::vector<float> logits;
  m->logits(g.batch, logits);
  const double e_logits = rel_err(logits, g.out("logits"));
  EXPECT_LT(e_logits, tol_logits) << p;
  const int64_t tokens = count_loss_tokens(g.batch);
  m->zero_grad();
  const LossStats s = m->forward_backward(g.batch, 1.0f / static_cast<float>(tokens));
  const double loss = s.loss_sum / static_cast<double>(s.tokens);
  const double e_loss = std::fabs(loss - g.out("loss")[0]) / std::fabs(g.out("loss")[0]);
  EXPECT_LT(e_loss, tol_loss) << p;
  double e_grad = 0;
  for (const LoraParam& lp : m->lora_params()) {
    const double e = rel_err(lp.grad, g.out("grad." + lp.name));
    EXPECT_LT(e, tol_grad) << p << " " << lp.name;
    e_grad = std::max(e_grad, e);
  }
  std::printf("[gpu %s %s] logits rel %.3g, loss rel %.3g, worst LoRA grad rel %.3g\n", g.name.c_str(), p, e_logits,
              e_loss, e_grad);
}

TEST_P(CudaModelGolden, Fp32MatchesPyTorch) {
  expect_golden(Golden(GetParam()), Precision::F32, gpu_testing::kFp32Tol, gpu_testing::kFp32Tol, 1e-3);
}

// bf16 rounds every GEMM operand to 8 mantissa bits (unit roundoff 2^-9), and the goldens are fp32: through
// two layers and the lm_head the logits may drift a few such roundings (3e-2 of their scale), the mean loss
// less (1e-2), the gradients, products of several rounded factors, more (5e-2).
TEST_P(CudaModelGolden, Bf16MatchesPyTorchWithinBf16Rounding) {
  expect_golden(Golden(GetParam()), Precision::BF16, 3e-2, gpu_testing::kBf16Tol, 5e-2);
}

INSTANTIATE_TEST_SUITE_P(Model, CudaModelGolden, ::testing::ValuesIn(testing::kGoldenCases), testing::case_name);

// Three optimizer steps (two micro-batches each, dropout on) on both backends: the same losses, grad
// norms and LoRA weights; the GPU step reports its peak device memory.
TEST(CudaTrainer, StepsMatchTheCpuBackend) {
  const Golden g("llama_gqa");
  LoadOptions o = g.opts;
  o.lora.dropout = 0.1f;
  std::vector<StepStats> stats[2];
  std::vector<std::vector<float>> weights[2];
  ModelConfig cfg;
  for (int k = 0; k < 2; ++k) {
    o.backend = k == 0 ? BackendKind::Cpu : BackendKind::Cuda;
    o.precision = Precision::F32;
    auto m = g.load(o);
    OptimConfig c;
    c.lr = 1e-2;
    c.total_steps = 3;
    c.weight_decay = 0.01;
    Trainer t(*m, c);
    for (int s = 0; s < 3; ++s) stats[k].push_back(t.step(g.micro));
    for (const LoraParam& p : m->lora_params()) weights[k].push_back(p.value);
    cfg = m->config();
  }
  // The memory estimate is exact on the CPU backend (native/test/memory_estimate_test.cpp); on the GPU the
  // backend's first step must come to the same bytes (its workspace follows the same rules).
  EXPECT_EQ(stats[1][0].peak_memory_bytes, estimate_training_memory(cfg, o, 1, g.batch.T, BackendKind::Cuda).total());
  for (int s = 0; s < 3; ++s) {
    EXPECT_LT(std::fabs(stats[1][s].loss - stats[0][s].loss) / stats[0][s].loss, gpu_testing::kFp32Tol) << "step " << s;
    EXPECT_LT(std::fabs(stats[1][s].grad_norm - stats[0][s].grad_norm) / stats[0][s].grad_norm, 1e-3) << "step " << s;
    EXPECT_GT(stats[1][s].peak_memory_bytes, 0u);
  }
  double worst = 0;
  for (size_t i = 0; i < weights[0].size(); ++i) worst = std::max(worst, rel_err(weights[1][i], weights[0][i]));
  std::printf("[gpu trainer] 3 steps: loss %.6f vs %.6f, worst LoRA weight rel %.3g, peak device memory %zu bytes\n",
              stats[1][2].loss, stats[0][2].loss, worst, stats[1][2].peak_memory_bytes);
  EXPECT_LT(worst, 1e-3);
}

// A long packed batch through a random model (2 rows x 700 tokens, documents of 40 to 300 tokens, some
// labels masked, GQA, head_dim 64): loss and every LoRA gradient, CPU backend vs CUDA in both precisions.
// LoRA B starts non-zero so that every gradient is exercised.
TEST(CudaModel, LongPackedBatchMatchesTheCpuBackend) {
  testing::TempDir dir("gpu_long");
  bench::RandomLlama shape;
  shape.vocab = 1000, shape.hidden = 256, shape.intermediate = 512, shape.layers = 2, shape.heads = 4;
  shape.kv_heads = 2, shape.head_dim = 64;
  bench::write_random_llama(dir.path(), shape, gpu_testing::run_seed());
  Batch b;
  b.B = 2;
  b.T = 700;
  const Rng rng(gpu_testing::run_seed(), 1);
  int pos = 0, doc_left = 40;
  for (int i = 0; i < b.B * b.T; ++i) {
    if (i % b.T == 0 || doc_left-- == 0) {  // a new document: positions restart
      pos = 0;
      doc_left = 40 + static_cast<int>(rng.u32(static_cast<uint64_t>(i)) % 260);
    }
    b.input_ids.push_back(static_cast<int32_t>(rng.u32(static_cast<uint64_t>(i) + 100000) % 1000));
    b.position_ids.push_back(pos++);
    b.labels.push_back(i % 13 == 5 ? -100 : b.input_ids.back());
  }
  const float scale = 1.0f / static_cast<float>(count_loss_tokens(b));
  std::vector<float> ref_grads[64];
  double ref_loss = 0;
  size_t n_params = 0;
  for (int k = 0; k < 3; ++k) {
    LoadOptions o;
    o.lora.dropout = 0;
    o.backend = k == 0 ? BackendKind::Cpu : BackendKind::Cuda;
    o.precision = k == 2 ? Precision::BF16 : Precision::F32;  // the CPU reference in fp32
    auto m = LlamaModel::load(dir.path(), o);
    std::vector<LoraParam>& ps = m->lora_params();
    for (size_t i = 1; i < ps.size(); i += 2)
      ps[i].value = gpu_testing::randn(ps[i].value.size(), 500 + static_cast<uint32_t>(i), 0.02f);
    const LossStats s = m->forward_backward(b, scale);
    const double loss = s.loss_sum * scale;
    const auto& out = m->lora_params();
    n_params = out.size();
    ASSERT_LE(n_params, 64u);
    if (k == 0) {
      ref_loss = loss;
      for (size_t i = 0; i < n_params; ++i) ref_grads[i] = out[i].grad;
      continue;
    }
    const bool f32 = k == 1;
    double worst = 0;
    for (size_t i = 0; i < n_params; ++i) worst = std::max(worst, rel_err(out[i].grad, ref_grads[i]));
    std::printf("[gpu long packed %s] loss %.6f vs cpu %.6f, worst LoRA grad rel %.3g\n", f32 ? "fp32" : "bf16", loss,
                ref_loss, worst);
    EXPECT_LT(std::fabs(loss - ref_loss) / ref_loss, f32 ? gpu_testing::kFp32Tol : gpu_testing::kBf16Tol);
    EXPECT_LT(worst, f32 ? 1e-3 : 5e-2);
  }
}

// The device keeps the only copy of the 4-bit state after loading; reading it back (for export and
// merging) gives the CPU backend's bytes and weights, and the base's size is unchanged.
TEST(CudaModel, FrozenStateComesBackFromTheDevice) {
  const Golden g("qwen2");
  LoadOptions o = g.opts;
  o.backend = BackendKind::Cpu;
  const auto cpu = LlamaModel::load(g.dir + "/model", o);
  o.backend = BackendKind::Cuda;
  const auto gpu = LlamaModel::load(g.dir + "/model", o);
  EXPECT_EQ(gpu->base_bytes(), cpu->base_bytes());
  for (int l = 0; l < static_cast<int>(cpu->config().num_hidden_layers); ++l)
    for (const char* mod : kLoraModuleNames) {
      EXPECT_EQ(gpu->quant_state(l, mod)->packed, cpu->quant_state(l, mod)->packed) << l << " " << mod;
      EXPECT_EQ(gpu->quant_state(l, mod)->absmax_codes, cpu->quant_state(l, mod)->absmax_codes) << l << " " << mod;
      EXPECT_EQ(gpu->dense_weight(l, mod), cpu->dense_weight(l, mod)) << l << " " << mod;
    }
}

// Greedy generation with the KV cache: the same tokens on the GPU (fp32) as on the CPU.
TEST(CudaModel, GreedyGenerationMatchesTheCpuBackend) {
  const Golden g("llama_gqa");
  std::vector<int32_t> tokens[2];
  for (int k = 0; k < 2; ++k) {
    LoadOptions o = g.opts;
    o.backend = k == 0 ? BackendKind::Cpu : BackendKind::Cuda;
    o.precision = Precision::F32;
    auto m = g.load(o);
    tokens[k] = m->generate(g.micro[0].input_ids, 24, 0.f, 1.f, 0, {});
  }
  EXPECT_EQ(tokens[1], tokens[0]);
}

}  // namespace
}  // namespace lp
