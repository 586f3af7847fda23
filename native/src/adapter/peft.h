// adapter/peft.h: PEFT-compatible adapter files and merged export. Provides save_peft_adapter,
// load_peft_adapter, export_merged and peft_adapter_config.
//
// An adapter dir is what PEFT 0.21's save_pretrained writes: adapter_config.json
// (json.dumps(indent=2, sort_keys=True)) and adapter_model.safetensors (metadata {"format":"pt"}) with
// keys base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight.
#pragma once
#include <string>

#include "core/json.h"
#include "model/llama.h"

namespace lp {

// adapter_config.json's object, with every key PEFT 0.21 writes.
Json peft_adapter_config(const LoraSpec& spec, const std::string& base_model_name);

void save_peft_adapter(const LlamaModel& model, const std::string& dir, const std::string& base_model_name);
// Reads an adapter dir into the model's LoRA params: checks r, lora_alpha, use_rslora, target_modules (as a
// set) and every tensor's shape against the model; errors name the key.
void load_peft_adapter(LlamaModel& model, const std::string& dir);
// W + scaling·B·A in fp32 per module over the dequantized base; writes config.json + model.safetensors (fp32)
// that transformers loads as a plain model.
void export_merged(const LlamaModel& model, const std::string& dir);

}  // namespace lp
