// adapter/gguf_export.cpp: GGUF LoRA adapter and merged model exports (see gguf_export.h).
#include "adapter/gguf_export.h"

#include <cmath>
#include <map>

#include "adapter/gguf_tokenizer.h"
#include "adapter/peft.h"
#include "core/check.h"
#include "core/gguf_writer.h"
#include "model/gguf_names.h"
#include "model/rope_tables.h"

namespace lp {

namespace {

// The heads a projection's rows are permuted over in the GGUF (gguf_names.h).
int64_t permuted_heads(const ModelConfig& c, const std::string& hf_name) {
  return rope_permuted_heads(gguf_arch(c.arch), hf_name, c.num_attention_heads, c.num_key_value_heads);
}

}  // namespace

void export_gguf_adapter(const LlamaModel& model, const std::string& path, const std::string& base_model_name) {
  const ModelConfig& c = model.config();
  const LoraSpec& spec = model.options().lora;
  gguf::Writer w;
  w.set_string("general.architecture", gguf_arch(c.arch));
  w.set_string("general.type", "adapter");
  w.set_string("general.name", base_model_name);
  w.set_string("adapter.type", "lora");
  // llama.cpp scales by alpha / r (r from lora_a's shape); with rsLoRA that alpha is scaling · r.
  w.set_f32("adapter.lora.alpha", spec.scaling() * static_cast<float>(spec.r));
  std::map<std::string, const LoraParam*> params;
  for (const LoraParam& p : model.lora_params()) params.emplace(p.name, &p);
  for (int l = 0; l < static_cast<int>(c.num_hidden_layers); ++l)
    for (int m = 0; m < 7; ++m) {
      const auto a = params.find(lora_key(l, kLoraModuleNames[m], 'A'));
      if (a == params.end()) continue;
      const LoraParam* A = a->second;
      const LoraParam* B = params.at(lora_key(l, kLoraModuleNames[m], 'B'));
      const std::string hf = projection_name(l, kLoraModuleNames[m]) + ".weight";
      const std::string name = gguf_tensor_name(hf);
      w.add_tensor(name + ".lora_a", A->shape, [A](std::vector<float>& out) { out = A->value; });
      const int64_t heads = permuted_heads(c, hf);
      w.add_tensor(name + ".lora_b", B->shape, [B, heads](std::vector<float>& out) {
        out = heads ? permute_rope_rows(B->value.data(), B->shape[0], B->shape[1], heads, true) : B->value;
      });
    }
  w.write(path);
}

void export_merged_gguf(const LlamaModel& model, const std::string& path, const std::string& base_model_name) {
  const ModelConfig& c = model.config();
  const std::string arch = gguf_arch(c.arch);
  gguf::Writer w;
  w.set_string("general.architecture", arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", base_model_name);
  w.set_u32("general.file_type", 0);  // LLAMA_FTYPE_ALL_F32
  w.set_u32(arch + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  w.set_u32(arch + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set_u32(arch + ".block_count", static_cast<uint32_t>(c.num_hidden_layers));
  w.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  w.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
  w.set_u32(arch + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(arch + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.set_f32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  set_gguf_tokenizer(w, model.model_dir(), c);

  std::map<std::string, LlamaModel::DenseTensor> dense;
  for (const auto& t : model.dense_tensors()) dense.emplace(t.name, t);
  auto add_dense = [&](const std::string& hf) {
    const auto it = dense.find(hf);
    if (it == dense.end()) return false;
    const LlamaModel::DenseTensor t = it->second;
    const int64_t heads = permuted_heads(c, hf);
    w.add_tensor(gguf_tensor_name(hf), t.shape, [t, heads](std::vector<float>& out) {
      size_t n = 1;
      for (int64_t d : t.shape) n *= static_cast<size_t>(d);
      out.assign(t.data, t.data + n);
      if (heads) out = permute_rope_rows(out.data(), static_cast<int64_t>(n), 1, heads, true);  // a q/k bias
    });
    return true;
  };
  add_dense("model.embed_tokens.weight");
  if (c.rope_scaling.type == RopeScaling::Type::Llama3) {
    // convert_hf_to_gguf.py's rope_freqs: the factor each frequency was divided by (llama.cpp divides again).
    const std::vector<float>& scaled = model.rope_inv_freq();
    std::vector<float> base(scaled.size());
    rope_inv_freq(base.data(), static_cast<int>(c.head_dim), c.rope_theta);
    std::vector<float> factors(scaled.size());
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = base[i] / scaled[i];
    w.add_tensor("rope_freqs.weight", {static_cast<int64_t>(factors.size())},
                 [factors](std::vector<float>& out) { out = factors; });
  }
  for (int l = 0; l < static_cast<int>(c.num_hidden_layers); ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    add_dense(hf + "input_layernorm.weight");
    for (int m = 0; m < 7; ++m) {
      const std::string module = kLoraModuleNames[m];
      const std::string weight = projection_name(l, module) + ".weight";
      const std::vector<int64_t> shape = projection_shape(c, module);
      const int64_t heads = permuted_heads(c, weight);
      w.add_tensor(gguf_tensor_name(weight), shape, [&model, l, module, shape, heads](std::vector<float>& out) {
        out = merged_weight(model, l, module);
        if (heads) out = permute_rope_rows(out.data(), shape[0], shape[1], heads, true);
      });
      add_dense(projection_name(l, module) + ".bias");
    }
    add_dense(hf + "self_attn.q_norm.weight");  // Qwen3 only
    add_dense(hf + "self_attn.k_norm.weight");
    add_dense(hf + "post_attention_layernorm.weight");
  }
  add_dense("model.norm.weight");
  // Tied embeddings: no output.weight, and llama.cpp reads token_embd for the output as well.
  if (!c.tie_word_embeddings)
    LP_CHECK(add_dense("lm_head.weight"), "model has untied embeddings but no lm_head.weight");
  w.write(path);
}

}  // namespace lp
