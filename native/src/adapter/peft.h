// adapter/peft.h: PEFT-compatible adapter files and merged export. Provides save_peft_adapter,
// load_peft_adapter, export_merged, peft_adapter_config, and the pieces the GGUF exports share with them
// (projection_shape, merged_weight).
//
// An adapter dir is what PEFT 0.21's save_pretrained writes: adapter_config.json
// (json.dumps(indent=2, sort_keys=True)) and adapter_model.safetensors (metadata {"format":"pt"}) with
// keys base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "model/llama.h"

namespace lp {

// adapter_config.json's object, with every key PEFT 0.21 writes.
Json peft_adapter_config(const LoraSpec& spec, const std::string& base_model_name);

void save_peft_adapter(const LlamaModel& model, const std::string& dir, const std::string& base_model_name);
// Reads an adapter dir into the model's LoRA params: checks r, lora_alpha, use_rslora, target_modules (as a
// set) and every tensor's shape against the model; errors name the key.
void load_peft_adapter(LlamaModel& model, const std::string& dir);
// A projection's weight shape (out, in).
std::vector<int64_t> projection_shape(const ModelConfig& c, const std::string& module);
// The projection's fp32 weight as the forward uses it (dequantized when quantized) plus scaling·(B @ A) in fp32
// when the module is adapted: PEFT's merge.
std::vector<float> merged_weight(const LlamaModel& model, int layer, const std::string& module);
// W + scaling·B·A in fp32 per module over the dequantized base; writes config.json + model.safetensors (fp32)
// that transformers loads as a plain model, and the base's generation_config.json; no tokenizer files.
void export_merged(const LlamaModel& model, const std::string& dir);

}  // namespace lp
