// model/llama.h: the Llama-family decoder (Llama, Mistral, Qwen2, Qwen3) with a frozen 4-bit base and trainable
// LoRA adapters, numerically equal to transformers + PEFT + bitsandbytes in fp32 on the CPU.
// Provides LoraSpec, LoadOptions, Batch, LossStats, LoraParam and LlamaModel (load, forward/backward,
// evaluate, logits, generate, LoRA parameter access).
//
// Shapes: B batch rows, T tokens per row, C hidden size, V vocab, L layers, NH query heads, NKV kv heads,
// HD head dim, F intermediate size, r LoRA rank.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/select.h"
#include "core/json.h"
#include "core/model_config.h"
#include "quant/quant4.h"

namespace lp {

// The seven projections LoRA may target, in PEFT's per-layer key order.
extern const char* const kLoraModuleNames[7];  // q_proj k_proj v_proj o_proj gate_proj up_proj down_proj
// HF's name of a layer's projection, e.g. "model.layers.3.self_attn.q_proj" (its weight adds ".weight").
std::string projection_name(int layer, const std::string& module);
// PEFT's key of a LoRA tensor: base_model.model.model.layers.{layer}.{self_attn|mlp}.{module}.lora_{A|B}.weight.
std::string lora_key(int layer, const std::string& module, char ab);

struct LoraSpec {
  int r = 16;
  float alpha = 32.f;
  float dropout = 0.05f;
  bool use_rslora = false;
  std::vector<std::string>
      target_modules;  // subset of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj; empty = all seven
  uint64_t seed =
      42;  // PEFT's init (A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0), from lp's RNG
  float scaling() const;  // alpha / r, or alpha / sqrt(r) with rsLoRA
  // True when `module` (e.g. "q_proj") is adapted: listed, or the list is empty.
  bool targets(const std::string& module) const;
};

struct LoadOptions {
  bool quantize = true;  // false: keep the projections dense fp32 (no quantization)
  QuantType quant_type = QuantType::NF4;
  bool double_quant = true;
  int blocksize = 64;
  LoraSpec lora;
  bool activation_checkpointing = true;     // keep only each layer's input; recompute the layer in backward
  BackendKind backend = BackendKind::Auto;  // where the model runs (backend/select.h)
  Precision precision = Precision::BF16;    // the 4-bit projections' compute precision (backend/registry.h)
};

// Padding-free batch: B rows of T tokens; documents packed in a row are delimited by position_ids restarting at 0.
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> input_ids;     // (B, T)
  std::vector<int32_t> labels;        // (B, T) HF convention, NOT shifted: logits[t] predicts labels[t+1]; -100 ignored
  std::vector<int32_t> position_ids;  // (B, T); empty = 0..T-1 in every row
};

// Number of labels that take part in the loss: labels[b][t+1] != -100 for t < T-1.
int64_t count_loss_tokens(const Batch& batch);

struct LossStats {  // sum of token CE over valid (shifted) labels
  double loss_sum = 0;
  int64_t tokens = 0;
};

struct LoraParam {
  std::string name;            // PEFT key, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
  std::vector<int64_t> shape;  // A: (r, in), B: (out, r)
  std::vector<float> value, grad;
};

// One call at a time per model: the calls share scratch buffers (use one model per worker thread).
class LlamaModel {
 public:
  // HF model dir (config.json + model.safetensors or sharded with model.safetensors.index.json; f32/bf16/f16),
  // memory-mapped; each projection is quantized layer by layer so peak memory stays near the quantized size.
  // On a device backend each projection goes to the device as soon as it is quantized and the host keeps
  // only its metadata (dense_weight and quant_state download it again).
  // Also accepts a dir that already holds a transformers-serialized 4-bit checkpoint (the nf4.safetensors form);
  // its own quant type and blocksize then win over opts.
  static std::unique_ptr<LlamaModel> load(const std::string& model_dir, const LoadOptions& opts);
  const ModelConfig& config() const;
  const LoadOptions& options() const;

  // One micro-batch: forward, masked CE, backward; LoRA grads ACCUMULATE (+=) d(grad_scale * loss_sum)/dθ.
  LossStats forward_backward(const Batch& batch, float grad_scale);
  LossStats evaluate(const Batch& batch);                    // no grads, no dropout
  void logits(const Batch& batch, std::vector<float>& out);  // out (B, T, V), no dropout
  // Sampling with a KV cache; returns the new tokens only (stops after a stop id, which is included).
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, int max_new_tokens,
                                float temperature /*0 = greedy*/, float top_p, uint64_t seed,
                                const std::vector<int32_t>& stop_ids);

  // PEFT key order: layer, then q k v o gate up down, A before B. On a device backend these are host
  // copies, brought up to date by the call; edits through the non-const accessor reach the device
  // before its next use.
  std::vector<LoraParam>& lora_params();
  const std::vector<LoraParam>& lora_params() const;
  void zero_grad();
  // The backend the model runs on, and its LoRA tensors there (lora_params() order), for the optimizer.
  Backend& backend();
  const Backend& backend() const;
  struct LoraTensors {
    std::vector<float*> value, grad;
    std::vector<int64_t> size;
  };
  LoraTensors lora_tensors();
  void set_adapters_enabled(bool on);  // off = the 4-bit base alone
  bool adapters_enabled() const;
  // Dropout masks come from (lora seed, forward-call counter): a resumed run restores the counter
  // (Trainer::save_state keeps it) and so draws the masks the uninterrupted run would have.
  uint64_t dropout_calls() const;
  void set_dropout_calls(uint64_t calls);
  size_t base_bytes() const;  // bytes held by the frozen base (quantized + fp32 norms/embeddings)

  // The fp32 weight of projection `module` (e.g. "q_proj") of `layer` as the forward uses it
  // (dequantized when quantized), (out, in). For merging and tests.
  std::vector<float> dense_weight(int layer, const std::string& module) const;
  // The frozen 4-bit state of a projection; nullptr when it is dense (quantize = false over an fp32/bf16/f16
  // checkpoint). On a device backend the first call for a projection copies its state back to the host.
  const QuantState* quant_state(int layer, const std::string& module) const;
  // Everything that is not a projection weight (embeddings, norms, biases, lm_head unless tied), fp32, by HF
  // name in checkpoint order. For export.
  struct DenseTensor {
    std::string name;
    std::vector<int64_t> shape;
    const float* data;
  };
  std::vector<DenseTensor> dense_tensors() const;
  const std::string& model_dir() const;
  const Json& hf_config() const;                    // config.json as read
  const std::vector<float>& rope_inv_freq() const;  // (HD/2), after llama3 scaling, as transformers computes it in fp32

  ~LlamaModel();

 private:
  LlamaModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lp
