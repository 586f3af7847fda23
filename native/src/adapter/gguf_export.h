// adapter/gguf_export.h: the trained model for llama.cpp. Provides export_gguf_adapter (the LoRA adapter as
// convert_lora_to_gguf.py writes it) and export_merged_gguf (the base with the adapter merged, as
// convert_hf_to_gguf.py writes a model), both F32.
#pragma once
#include <string>

#include "model/llama.h"

namespace lp {

// general.type "adapter", adapter.type "lora", adapter.lora.alpha, and blk.N.<tensor>.weight.lora_a (ggml ne
// [in, r]) / .lora_b (ne [r, out]) for every adapted projection; on the llama architecture the rows of
// attn_q/attn_k's lora_b are permuted as convert_hf_to_gguf.py permutes those weights.
void export_gguf_adapter(const LlamaModel& model, const std::string& path, const std::string& base_model_name);
// W + scaling·B·A (merged_weight) for every projection, the embeddings, norms and biases, the architecture's
// metadata and the tokenizer's (gguf_tokenizer.h).
void export_merged_gguf(const LlamaModel& model, const std::string& path, const std::string& base_model_name);

}  // namespace lp
