#include "model/gguf_names.h"

#include <algorithm>
#include <regex>

#include "core/check.h"

namespace lp {

namespace {

struct NamePair {
  const char* gguf;
  const char* hf;
};

// Per block: blk.N.<gguf> is model.layers.N.<hf>.
const NamePair kLayerNames[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};
// Qwen3's per-head q/k norms (gguf-py's MODEL_TENSORS for qwen3): a tensor of a qwen3 file only.
const NamePair kQkNormNames[] = {
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
};
const NamePair kModelNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

// Looks name up on one side of a table and gives the other side; nullptr when absent.
template <size_t N>
const char* other_name(const NamePair (&table)[N], const std::string& name, bool from_gguf) {
  for (const NamePair& p : table)
    if (name == (from_gguf ? p.gguf : p.hf)) return from_gguf ? p.hf : p.gguf;
  return nullptr;
}

}  // namespace

const char* gguf_arch(Arch a) { return a == Arch::Qwen2 ? "qwen2" : a == Arch::Qwen3 ? "qwen3" : "llama"; }

std::string hf_tensor_name(const std::string& gguf_name, std::string_view gguf_arch, int64_t layers) {
  if (const char* hf = other_name(kModelNames, gguf_name, true)) return hf;
  static const std::regex block(R"(blk\.(\d{1,6})\.(.+))");
  std::smatch m;
  if (!std::regex_match(gguf_name, m, block) || std::stoll(m[1]) >= layers) return "";
  const char* hf = other_name(kLayerNames, m[2], true);
  if (!hf && gguf_arch == "qwen3") hf = other_name(kQkNormNames, m[2], true);
  return hf ? "model.layers." + m[1].str() + "." + hf : "";
}

std::string gguf_tensor_name(const std::string& hf_name) {
  if (const char* g = other_name(kModelNames, hf_name, false)) return g;
  static const std::regex layer(R"(model\.layers\.(\d{1,6})\.(.+))");
  std::smatch m;
  const char* g = nullptr;
  if (std::regex_match(hf_name, m, layer)) {
    g = other_name(kLayerNames, m[2], false);
    if (!g) g = other_name(kQkNormNames, m[2], false);
  }
  LP_CHECK(g, "tensor \"" << hf_name << "\" has no name in llama.cpp's GGUF architectures");
  return "blk." + m[1].str() + "." + g;
}

int64_t rope_permuted_heads(std::string_view gguf_arch, std::string_view hf_name, int64_t heads, int64_t kv_heads) {
  if (gguf_arch != "llama") return 0;  // Qwen2's and Qwen3's converters leave the rows as they are
  if (hf_name.find("self_attn.q_proj.") != std::string_view::npos) return heads;
  if (hf_name.find("self_attn.k_proj.") != std::string_view::npos) return kv_heads;
  return 0;
}

std::vector<float> permute_rope_rows(const float* w, int64_t rows, int64_t cols, int64_t heads, bool to_gguf) {
  LP_CHECK(heads > 0 && rows % (2 * heads) == 0,
           "cannot permute " << rows << " rows over " << heads << " heads of an even size");
  const int64_t half = rows / heads / 2;
  std::vector<float> out(static_cast<size_t>(rows * cols));
  // GGUF row h*hd + 2i + j is HF row h*hd + j*hd/2 + i (j in {0, 1}, i < hd/2).
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t hf = h * 2 * half + j * half + i, gguf = h * 2 * half + i * 2 + j;
        const int64_t src = to_gguf ? hf : gguf, dst = to_gguf ? gguf : hf;
        std::copy(w + src * cols, w + (src + 1) * cols, out.begin() + dst * cols);
      }
  return out;
}

}  // namespace lp
