// model/gguf_names.h: a model as llama.cpp names and lays it out, for the GGUF reader of base models and the GGUF
// exports alike: architecture names, tensor names beside Hugging Face's (gguf-py's TENSOR_NAMES), and the row
// order convert_hf_to_gguf.py gives llama's q/k projections for ggml's RoPE.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_config.h"

namespace lp {

// general.architecture: Llama and Mistral are "llama" (convert_hf_to_gguf.py's LlamaModel), Qwen2 "qwen2", Qwen3
// "qwen3".
const char* gguf_arch(Arch a);

// HF's name of a GGUF tensor ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"); "" when the
// architecture has no such tensor (as loraplane reads it) or its block is not below layers.
std::string hf_tensor_name(const std::string& gguf_name, std::string_view gguf_arch, int64_t layers);
// llama.cpp's name of an HF tensor (the inverse); throws naming it when there is none.
std::string gguf_tensor_name(const std::string& hf_name);

// The heads over which convert_hf_to_gguf.py permuted an HF tensor's rows: on "llama", q_proj's by the attention
// heads and k_proj's by the KV heads (weights and biases); 0 for every other tensor and architecture.
int64_t rope_permuted_heads(std::string_view gguf_arch, std::string_view hf_name, int64_t heads, int64_t kv_heads);
// LlamaModel.permute on the rows of a row-major (rows, cols) matrix: each head's rotate-half order (first half,
// second half) becomes ggml's interleaved pairs (to_gguf), or back (!to_gguf).
std::vector<float> permute_rope_rows(const float* w, int64_t rows, int64_t cols, int64_t heads, bool to_gguf);

}  // namespace lp
