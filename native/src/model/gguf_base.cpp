#include "model/gguf_base.h"

#include <algorithm>

#include "core/check.h"
#include "core/safetensors.h"
#include "model/gguf_names.h"

namespace lp {

namespace {

int64_t req_int(const GgufFile& f, const std::string& key) {
  const Json& v = f.get_metadata(key);
  LP_CHECK(v.is_int() && v.as_int() > 0,
           f.path() << ": metadata \"" << key << "\" is " << v.dump() << ", expected a positive integer");
  return v.as_int();
}

double opt_num(const GgufFile& f, const std::string& key, double fallback) {
  const Json* v = f.find_metadata(key);
  if (!v) return fallback;
  LP_CHECK(v->is_number(), f.path() << ": metadata \"" << key << "\" is " << v->dump() << ", expected a number");
  return v->as_double();
}

}  // namespace

GgufBase::GgufBase(const std::string& path) : file_(path) {
  const Json* arch_v = file_.find_metadata("general.architecture");
  LP_CHECK(arch_v && arch_v->is_string(),
           path << " has no general.architecture string: not a model GGUF loraplane can read");
  const std::string arch = arch_v->as_string();
  LP_CHECK(arch == "llama" || arch == "qwen2" || arch == "qwen3",
           path << ": architecture \"" << arch
                << "\" is not supported (loraplane reads GGUF architectures llama, which Mistral GGUFs use too, "
                   "qwen2 and qwen3)");
  const std::string a = arch + ".";
  const int64_t heads = req_int(file_, a + "attention.head_count");
  const int64_t kv_heads =
      file_.find_metadata(a + "attention.head_count_kv") ? req_int(file_, a + "attention.head_count_kv") : heads;
  const int64_t layers = req_int(file_, a + "block_count");
  const Json& tokens = file_.get_metadata("tokenizer.ggml.tokens");
  LP_CHECK(tokens.is_array() && tokens.size() > 0,
           path << ": metadata \"tokenizer.ggml.tokens\" is not a list of tokens");
  if (const Json* scaling = file_.find_metadata(a + "rope.scaling.type"))
    LP_CHECK(scaling->is_string() && scaling->as_string() == "none",
             path << ": rope scaling " << scaling->dump() << " is not supported");

  // Every tensor must be one the architecture has: a weight left unread would be silently wrong.
  for (const GgufTensor& t : file_.tensors()) {
    const std::string hf = hf_tensor_name(t.name, arch, layers);
    LP_CHECK(!hf.empty(), path << ": tensor \"" << t.name << "\" is not part of the " << arch
                               << " architecture as loraplane reads it");
    by_hf_name_.emplace(hf, Entry{&t, rope_permuted_heads(arch, hf, heads, kv_heads)});
  }
  const bool bias = contains("model.layers.0.self_attn.q_proj.bias");
  LP_CHECK(arch != "qwen2" || bias, path << ": qwen2 tensor \"blk.0.attn_q.bias\" is missing");

  Json c = Json::object();
  c.set("architectures", Json::Array{Json(arch == "llama"   ? "LlamaForCausalLM"
                                          : arch == "qwen2" ? "Qwen2ForCausalLM"
                                                            : "Qwen3ForCausalLM")});
  c.set("model_type", arch);
  c.set("hidden_size", req_int(file_, a + "embedding_length"));
  c.set("intermediate_size", req_int(file_, a + "feed_forward_length"));
  c.set("num_hidden_layers", layers);
  c.set("num_attention_heads", heads);
  c.set("num_key_value_heads", kv_heads);
  // The head size: attention.key_length (what convert_hf_to_gguf.py writes from config.json's head_dim, e.g.
  // for Qwen3), else rope.dimension_count, else llama.cpp's embedding_length / head_count (Qwen3Config's
  // default of 128 must not apply to a file that states neither).
  if (file_.find_metadata(a + "attention.key_length"))
    c.set("head_dim", req_int(file_, a + "attention.key_length"));
  else if (file_.find_metadata(a + "rope.dimension_count"))
    c.set("head_dim", req_int(file_, a + "rope.dimension_count"));
  else if (arch == "qwen3")
    c.set("head_dim", req_int(file_, a + "embedding_length") / heads);
  c.set("max_position_embeddings", req_int(file_, a + "context_length"));
  c.set("rms_norm_eps", opt_num(file_, a + "attention.layer_norm_rms_epsilon", -1));
  c.set("rope_theta", opt_num(file_, a + "rope.freq_base", 10000.0));
  c.set("vocab_size", static_cast<int64_t>(tokens.size()));
  c.set("hidden_act", "silu");
  c.set("tie_word_embeddings", !contains("lm_head.weight"));
  if (arch != "qwen2") c.set("attention_bias", bias);
  for (const char* id : {"bos", "eos", "padding"})
    if (const Json* v = file_.find_metadata(std::string("tokenizer.ggml.") + id + "_token_id"))
      c.set(std::string(id == std::string("padding") ? "pad" : id) + "_token_id", *v);
  c.set("dtype", "float32");
  config_ = std::move(c);
  LP_CHECK(config_.at("rms_norm_eps").as_double() > 0,
           path << ": metadata \"" << a << "attention.layer_norm_rms_epsilon\" is missing or not positive");
}

const GgufBase::Entry* GgufBase::find(std::string_view hf_name) const {
  auto it = by_hf_name_.find(std::string(hf_name));
  return it == by_hf_name_.end() ? nullptr : &it->second;
}

const std::vector<int64_t>& GgufBase::shape(std::string_view hf_name) const {
  const Entry* e = find(hf_name);
  LP_CHECK(e,
           path() << " has no tensor for \"" << hf_name << "\" (by llama.cpp's names: token_embd, blk.N.attn_q, ...)");
  return e->tensor->shape;
}

void GgufBase::read(std::string_view hf_name, float* out) const {
  shape(hf_name);  // throws when absent
  const Entry& e = *find(hf_name);
  const GgufTensor& t = *e.tensor;
  file_.to_float32(t, out);
  TensorView pages;  // release_pages works on any mapped range
  pages.data = t.data;
  pages.nbytes = t.nbytes;
  release_pages(pages);
  if (e.permuted_heads == 0) return;
  const int64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
  LP_CHECK(rows % (2 * e.permuted_heads) == 0, path() << ": tensor \"" << t.name << "\" has " << rows << " rows, not "
                                                      << e.permuted_heads << " heads of an even size");
  const std::vector<float> hf_rows = permute_rope_rows(out, rows, cols, e.permuted_heads, false);
  std::copy(hf_rows.begin(), hf_rows.end(), out);
}

}  // namespace lp
