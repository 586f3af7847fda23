// train/trainer.h: one optimizer step over gradient-accumulated micro-batches, as transformers' Trainer
// computes it with PEFT LoRA parameters: loss normalised by the valid tokens of the whole step, global
// L2 norm clipping, torch.optim.AdamW (decoupled weight decay), lr from the schedule. Provides
// OptimConfig, StepStats and Trainer (step, save_state / load_state for resume).
//
// Data parallelism: each rank of a group (collective/collective.h) holds the same model and optimizer
// state and calls step with its share of the step's micro-batches and the group. The token count is
// summed before the backward (every rank scales by 1 / the global tokens), the LoRA gradients and the
// loss sum after it (one flat all-reduce), so every rank clips by the same global norm and takes the
// bit-identical AdamW step: the result matches one process stepping on all the micro-batches.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/buffer.h"
#include "collective/collective.h"
#include "model/llama.h"
#include "train/schedule.h"

namespace lp {

struct OptimConfig {
  double lr = 2e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0,
         max_grad_norm = 1.0;  // max_grad_norm <= 0: no clipping
  LrSchedule schedule = LrSchedule::Cosine;
  int warmup_steps = 0;
  int total_steps = 1;
};

struct StepStats {
  double loss;               // Σ token CE over all micro-batches / Σ valid tokens (of every rank, in a group)
  double grad_norm;          // global L2 norm before clipping (what clip_grad_norm_ returns)
  double lr;                 // the lr this step used
  int64_t tokens;            // valid (shifted) label tokens in the step (of every rank, in a group)
  int step;                  // optimizer steps done after this one (1 for the first)
  size_t peak_memory_bytes;  // the most the model's backend held during the step (device memory on cuda)
};

class Trainer {
 public:
  Trainer(LlamaModel& model, OptimConfig config);
  // loss = Σ token CE over ALL micro-batches / Σ valid tokens (transformers' num_items_in_batch); clip global norm;
  // AdamW (weight decay on LoRA A/B); lr from the schedule. A step whose micro-batches hold no valid token
  // changes nothing but the step count (loss 0).
  StepStats step(const std::vector<Batch>& micro_batches);
  // The same step as one rank of `group` (nullptr: the step above; a group of one: the same, nothing
  // exchanged). Every rank must call it together (same model, same LoRA options, same optimizer state);
  // a rank may bring no micro-batch (it adds no tokens and zero gradients but joins every collective).
  // Dropout masks come from each rank's own forward-call counter (the same seed on every rank).
  // Throws lp::Error, the step not taken, when the group's token count reaches 2^24 (the count travels
  // as a float, exact below that); and when a collective fails (a rank died or timed out: the group
  // must restart).
  StepStats step(const std::vector<Batch>& micro_batches, Collective* group);
  int steps_done() const;
  const OptimConfig& config() const;
  // Optimizer m, v, step and config as safetensors + metadata, for resume. load_state checks that
  // the parameter names and shapes match the model's.
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);

 private:
  double reduce_gradients(Collective& group, const LlamaModel::LoraTensors& t, double loss_sum);

  LlamaModel& model_;
  OptimConfig config_;
  int step_ = 0;
  std::vector<Buffer<float>> m_, v_;  // per LoRA param, same order as model.lora_params(), in the backend
  Buffer<float> flat_;                // a group's all-reduce: every LoRA gradient, then the loss sum (2 floats)
  std::vector<float> flat_host_;      // its host copy when the backend's memory is not the collective's
};

}  // namespace lp
