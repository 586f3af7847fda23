// ModelConfig: the fields of a Hugging Face config.json that the Llama-family decoder needs, parsed
// and checked. Supports LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM, and both the
// transformers 4 (`rope_theta`, `rope_scaling`, `torch_dtype`) and 5 (`rope_parameters`, `dtype`) forms.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lp {

class Json;

enum class Arch { Llama, Mistral, Qwen2, Qwen3 };
const char* arch_name(Arch a);  // "LlamaForCausalLM", ...

struct RopeScaling {
  enum class Type { None, Llama3 };
  Type type = Type::None;
  double factor = 1.0;                           // llama3 only
  double low_freq_factor = 1.0;                  // llama3 only
  double high_freq_factor = 4.0;                 // llama3 only
  int64_t original_max_position_embeddings = 0;  // llama3 only
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads (Qwen3: 128, as Qwen3Config)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;         // bias on q/k/v (Qwen2 always; the others when attention_bias)
  bool o_proj_bias = false;            // bias on o_proj (Llama/Mistral/Qwen3 attention_bias; never Qwen2)
  bool qk_norm = false;                // per-head RMSNorm of q and k before RoPE (Qwen3's q_norm, k_norm)
  bool mlp_bias = false;               // bias on gate/up/down (Llama mlp_bias)
  int64_t sliding_window = 0;          // 0: full causal attention (Mistral's window when set)
  int64_t bos_token_id = -1;           // -1: absent or null
  std::vector<int64_t> eos_token_ids;  // config may hold one id or a list (Llama 3)
  int64_t pad_token_id = -1;
  std::string torch_dtype = "float32";  // dtype of the stored weights: "float32", "bfloat16", "float16"

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

// Parses a config.json object; `source` (the path) names the file in every error.
ModelConfig parse_model_config(const Json& j, const std::string& source);
// Reads and parses `path` (a config.json).
ModelConfig load_model_config(const std::string& path);

}  // namespace lp
