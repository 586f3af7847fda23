// model/memory_estimate.cpp: the training step's backend memory (see memory_estimate.h). Mirrors the
// allocations of llama_load.cpp (weights, LoRA), llama_layer.cpp and llama_train.cpp (workspace and
// activations), trainer.cpp (optimizer) and, through the backend's registry entry, what the backend
// holds itself (backend/registry.h).
#include "model/memory_estimate.h"

#include <algorithm>

#include "backend/registry.h"
#include "core/check.h"
#include "model/llama_impl.h"

namespace lp {

int lm_head_chunk_rows(int N, int64_t V) { return std::min<int64_t>(N, std::max<int64_t>(64, (int64_t{1} << 25) / V)); }

namespace {

constexpr size_t kF = sizeof(float);

struct ProjShape {
  int64_t out, in;
};

}  // namespace

TrainingMemory estimate_training_memory(const ModelConfig& c, const LoadOptions& o, int B, int T, BackendKind kind) {
  LP_CHECK(kind != BackendKind::Auto, "estimate_training_memory needs cpu or cuda, not auto");
  LP_CHECK(B > 0 && T > 0, "estimate_training_memory: B=" << B << " T=" << T);
  const BackendReg& be = registered_backend(kind);
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

  // Dense frozen weights (unquantized projections, the embedding table, lm_head) take what the backend
  // says; a backend that is not host-visible also holds copies of the 4-bit states, norms, biases and LoRA.
  for (int p = 0; p < kNumProj; ++p) {
    const int64_t n = shapes[p].out * shapes[p].in;
    size_t b = 0;
    if (!o.quantize) {
      b = be.dense_weight_bytes(n, o.precision);
    } else if (!be.host_visible()) {
      const int64_t nblocks = (n + o.blocksize - 1) / o.blocksize;
      b = static_cast<size_t>((n + 1) / 2) +
          (o.double_quant ? static_cast<size_t>(nblocks) + static_cast<size_t>((nblocks + 255) / 256) * kF + 256 * kF
                          : static_cast<size_t>(nblocks) * kF);
    }
    m.weights += static_cast<size_t>(L) * b;
  }
  m.weights += be.dense_weight_bytes(V * C, o.precision) * (c.tie_word_embeddings ? 1 : 2);
  if (!be.host_visible()) {
    m.lora = 2 * static_cast<size_t>(trainable) * kF;
    const size_t biases = (c.attention_bias ? static_cast<size_t>(QD + 2 * KVD) : 0) + (c.o_proj_bias ? C : 0) +
                          (c.mlp_bias ? static_cast<size_t>(2 * F + C) : 0);
    const size_t norms = 2 * static_cast<size_t>(C) + (c.qk_norm ? 2 * static_cast<size_t>(HD) : 0);
    m.weights += static_cast<size_t>(L) * (norms + biases) * kF;  // norms and biases
    m.weights += static_cast<size_t>(C) * kF;                     // final norm
  }

  // Saved activations: the residual stream at L+1 boundaries, and one layer's (or every layer's).
  // qk_norm adds the q/k projections before their norms and one 1/rms per (token, head).
  const size_t qk_norm = c.qk_norm ? N * static_cast<size_t>(QD + KVD + NH + c.num_key_value_heads) * kF : 0;
  const size_t acts = (N * (3 * C + QD + 2 * KVD + QD + 3 * F) + 2 * N + N * NH) * kF + qk_norm + lora_h + lora_mask;
  m.activations = static_cast<size_t>(L + 1) * N * C * kF + (o.activation_checkpointing ? 1 : L) * acts;

  // Workspace: ids, segments, labels; cos/sin; tmp; dropped LoRA input; final norm; residual and norm
  // gradients; q/k/v/attention gradients; MLP gradients; LoRA scratch; the lm_head chunk; then the
  // backend's own scratch.
  const int rows = lm_head_chunk_rows(static_cast<int>(N), V);
  m.workspace = 3 * N * sizeof(int32_t) + 2 * N * static_cast<size_t>(HD / 2) * kF + N * C * kF +
                (dropout ? N * static_cast<size_t>(std::max({C, QD, F})) * kF : 0) + (N * C + N) * kF + 2 * N * C * kF +
                N * static_cast<size_t>(2 * QD + 2 * KVD) * kF + 3 * N * F * kF + N * r * kF +
                static_cast<size_t>(rows) * V * kF;
  StepShape shape;
  shape.tokens = static_cast<int64_t>(N);
  shape.max_in = max_in;
  shape.max_out = max_out;
  shape.max_weight = max_weight;
  shape.heads = static_cast<int>(NH);
  shape.lm_head_rows = rows;
  shape.vocab = V;
  shape.quantized = o.quantize;
  shape.precision = o.precision;
  m.workspace += be.scratch_bytes(shape);
  return m;
}

}  // namespace lp
