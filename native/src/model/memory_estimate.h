// model/memory_estimate.h: what a training step holds in its backend's memory, computed from the
// shapes alone, buffer by buffer as the model, the trainer and the backend allocate them (so the CPU
// backend's measured peak equals it exactly, and a GPU run can be sized before it starts). Provides
// lm_head_chunk_rows and estimate_training_memory.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/model_config.h"
#include "model/llama.h"

namespace lp {

// Rows of the lm_head + cross-entropy chunk: about 32M logits at a time, at least 64 rows, at most N.
int lm_head_chunk_rows(int N, int64_t V);

struct TrainingMemory {
  size_t weights = 0;      // the frozen base in the backend (0 on the CPU backend: it reads the host copy)
  size_t lora = 0;         // LoRA values and grads in the backend (0 on the CPU backend: host vectors)
  size_t optimizer = 0;    // AdamW exp_avg and exp_avg_sq
  size_t activations = 0;  // residual stream at every layer boundary + the saved layer activations
  size_t workspace = 0;    // gradients of one layer, batch tables, the lm_head chunk, the backend's scratch
  size_t total() const { return weights + lora + optimizer + activations + workspace; }
};

// One optimizer step over micro-batches of B rows x T tokens on `kind` (Cpu or Cuda), with the
// options' LoRA targets, dropout, activation checkpointing and precision. quantized: the projections
// are 4-bit (opts.quantize, or a pre-quantized checkpoint).
TrainingMemory estimate_training_memory(const ModelConfig& c, const LoadOptions& opts, int B, int T, BackendKind kind);

}  // namespace lp
