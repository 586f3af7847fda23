// model/memory_estimate.cpp: the training step's backend memory (see memory_estimate.h). Mirrors the
// allocations of llama_load.cpp (weights, LoRA), llama_layer.cpp and llama_train.cpp (workspace and
// activations), trainer.cpp (optimizer) and the backends' scratch (cpu/backend.cpp, cuda/plan.h).
#include "model/memory_estimate.h"

#include <algorithm>

#include "core/check.h"
#include "cuda/plan.h"
#include "model/llama_impl.h"

namespace lp {

int lm_head_chunk_rows(int N, int64_t V) {
  return std::min<int64_t>(N, std::max<int64_t>(64, (int64_t{1} << 25) / V));
}

namespace {

constexpr size_t kF = sizeof(float);

struct ProjShape {
  int64_t out, in;
};

}  // namespace

TrainingMemory estimate_training_memory(const ModelConfig& c, const LoadOptions& o, int B, int T, BackendKind kind) {
  LP_CHECK(kind != BackendKind::Auto, "estimate_training_memory needs cpu or cuda, not auto");
  LP_CHECK(B > 0 && T > 0, "estimate_training_memory: B=" << B << " T=" << T);
  const bool cuda = kind == BackendKind::Cuda;
  const int64_t L = c.num_hidden_layers, C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size,
                NH = c.num_attention_heads, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim(), r = o.lora.r;
  const size_t N = static_cast<size_t>(B) * T;
  const ProjShape shapes[kNumProj] = {{QD, C}, {KVD, C}, {KVD, C}, {C, QD}, {F, C}, {F, C}, {C, F}};
  const bool dropout = o.lora.dropout > 0;
  TrainingMemory m;

  int64_t trainable = 0, max_weight = 0, max_in = 0, max_out = 0;
  size_t lora_h = 0, lora_mask = 0;  // per layer
  for (int p = 0; p < kNumProj; ++p) {
    const ProjShape& s = shapes[p];
    max_weight = std::max(max_weight, s.out * s.in);
    max_in = std::max(max_in, s.in);
    max_out = std::max(max_out, s.out);
    if (!o.lora.targets(kLoraModuleNames[p])) continue;
    trainable += r * (s.in + s.out);
    lora_h += N * r * kF;
    if (dropout) lora_mask += N * static_cast<size_t>(s.in);
  }
  trainable *= L;
  m.optimizer = 2 * static_cast<size_t>(trainable) * kF;

  if (cuda) {
    m.lora = 2 * static_cast<size_t>(trainable) * kF;
    for (int p = 0; p < kNumProj; ++p) {
      const int64_t n = shapes[p].out * shapes[p].in;
      size_t b = 0;
      if (o.quantize) {
        const int64_t nblocks = (n + o.blocksize - 1) / o.blocksize;
        b = static_cast<size_t>((n + 1) / 2) +
            (o.double_quant ? static_cast<size_t>(nblocks) + static_cast<size_t>((nblocks + 255) / 256) * kF + 256 * kF
                            : static_cast<size_t>(nblocks) * kF);
      } else {
        b = static_cast<size_t>(n) * (o.precision == Precision::BF16 ? 2 : kF);
      }
      m.weights += static_cast<size_t>(L) * b;
    }
    const size_t biases = (c.attention_bias ? static_cast<size_t>(QD + 2 * KVD) : 0) + (c.o_proj_bias ? C : 0) +
                          (c.mlp_bias ? static_cast<size_t>(2 * F + C) : 0);
    m.weights += static_cast<size_t>(L) * (2 * C + biases) * kF;  // norms and biases
    m.weights += static_cast<size_t>(C) * kF;  // final norm
    // The embedding table and lm_head are dense frozen weights: bf16 in bf16 precision.
    const size_t table = static_cast<size_t>(V * C) * (o.precision == Precision::BF16 ? 2 : kF);
    m.weights += table * (c.tie_word_embeddings ? 1 : 2);
  }

  // Saved activations: the residual stream at L+1 boundaries, and one layer's (or every layer's).
  const size_t acts = (N * (3 * C + QD + 2 * KVD + QD + 3 * F) + 2 * N + N * NH) * kF + lora_h + lora_mask;
  m.activations = static_cast<size_t>(L + 1) * N * C * kF + (o.activation_checkpointing ? 1 : L) * acts;

  // Workspace: ids, segments, labels; cos/sin; tmp; dropped LoRA input; final norm; residual and norm
  // gradients; q/k/v/attention gradients; MLP gradients; LoRA scratch; the lm_head chunk.
  const int rows = lm_head_chunk_rows(static_cast<int>(N), V);
  m.workspace = 3 * N * sizeof(int32_t) + 2 * N * static_cast<size_t>(HD / 2) * kF + N * C * kF +
                (dropout ? N * static_cast<size_t>(std::max({C, QD, F})) * kF : 0) + (N * C + N) * kF +
                2 * N * C * kF + N * static_cast<size_t>(2 * QD + 2 * KVD) * kF + 3 * N * F * kF + N * r * kF +
                static_cast<size_t>(rows) * V * kF;
  if (cuda) {
    const bool bf16 = o.precision == Precision::BF16;
    const cuda::WorkspacePlan w = cuda::workspace_plan(static_cast<int64_t>(N), max_in, max_out, max_weight,
                                                       static_cast<int>(NH), rows, V, bf16);
    m.workspace += (o.quantize ? w.weight * (bf16 ? 2 : kF) : 0) + w.act_cast * 2 + w.row_loss * kF +
                   w.attn_rowsum * kF + w.cublas_bytes + sizeof(double);
  } else if (o.quantize) {
    m.workspace += static_cast<size_t>(max_weight) * kF;  // the dequantized projection
  }
  return m;
}

}  // namespace lp
