#include "core/model_config.h"

#include "core/check.h"
#include "core/json.h"

namespace lp {

namespace {

constexpr const char* kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";

// Typed field access that names the key and the file on every failure.
class Fields {
 public:
  Fields(const Json& j, const std::string& source) : j_(j), src_(source) {}

  const Json* get(const char* key) const {
    const Json* v = j_.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  int64_t req_int(const char* key) const {
    const Json* v = get(key);
    LP_CHECK(v, src_ << ": missing required key \"" << key << "\"");
    return to_int(*v, key);
  }
  int64_t opt_int(const char* key, int64_t dflt) const {
    const Json* v = get(key);
    return v ? to_int(*v, key) : dflt;
  }
  double num(const Json& v, const std::string& key) const {
    LP_CHECK(v.is_number(), src_ << ": \"" << key << "\" must be a number, got " << v.type_name());
    return v.as_double();
  }
  bool opt_bool(const char* key, bool dflt) const {
    const Json* v = get(key);
    if (!v) return dflt;
    LP_CHECK(v->is_bool(), src_ << ": \"" << key << "\" must be true or false, got " << v->type_name());
    return v->as_bool();
  }
  std::string opt_string(const char* key, const std::string& dflt) const {
    const Json* v = get(key);
    if (!v) return dflt;
    LP_CHECK(v->is_string(), src_ << ": \"" << key << "\" must be a string, got " << v->type_name());
    return v->as_string();
  }
  int64_t to_int(const Json& v, const std::string& key) const {
    LP_CHECK(v.is_int(), src_ << ": \"" << key << "\" must be an integer, got " << v.type_name());
    return v.as_int();
  }
  const std::string& src() const { return src_; }

 private:
  const Json& j_;
  const std::string& src_;
};

Arch detect_arch(const Fields& f) {
  if (const Json* archs = f.get("architectures")) {
    LP_CHECK(archs->is_array() && archs->size() > 0 && (*archs)[0].is_string(),
             f.src() << ": \"architectures\" must be a non-empty list of strings");
    const std::string& a = (*archs)[0].as_string();
    if (a == "LlamaForCausalLM") return Arch::Llama;
    if (a == "MistralForCausalLM") return Arch::Mistral;
    if (a == "Qwen2ForCausalLM") return Arch::Qwen2;
    if (a == "Qwen3ForCausalLM") return Arch::Qwen3;
    LP_CHECK(false, f.src() << ": unsupported architecture " << a << ": loraplane supports " << kSupported);
  }
  const Json* mt = f.get("model_type");
  LP_CHECK(mt && mt->is_string(), f.src() << ": missing required key \"architectures\" (or \"model_type\")");
  const std::string& t = mt->as_string();
  if (t == "llama") return Arch::Llama;
  if (t == "mistral") return Arch::Mistral;
  if (t == "qwen2") return Arch::Qwen2;
  if (t == "qwen3") return Arch::Qwen3;
  LP_CHECK(false, f.src() << ": unsupported architecture " << t << " (model_type): loraplane supports " << kSupported);
}

// rope_parameters (transformers 5) holds rope_theta and the scaling; rope_scaling (transformers 4) only the scaling.
void parse_rope(const Fields& f, ModelConfig& c) {
  const Json* params = f.get("rope_parameters");
  const Json* scaling = params ? params : f.get("rope_scaling");
  const char* where = params ? "rope_parameters" : "rope_scaling";
  LP_CHECK(!scaling || scaling->is_object(), f.src() << ": \"" << where << "\" must be an object");

  const Json* theta = f.get("rope_theta");
  if (!theta && params) theta = params->find("rope_theta");
  LP_CHECK(theta && !theta->is_null(),
           f.src() << ": missing required key \"rope_theta\" (or \"rope_parameters.rope_theta\")");
  c.rope_theta = f.num(*theta, "rope_theta");

  if (!scaling) return;
  const Json* type = scaling->find("rope_type");
  if (!type || type->is_null()) type = scaling->find("type");
  const std::string t = (type && type->is_string()) ? type->as_string() : "default";
  if (t == "default") return;
  LP_CHECK(t == "llama3", f.src() << ": unsupported rope type \"" << t << "\" in \"" << where
                                  << "\": loraplane supports default and llama3");
  auto field = [&](const char* key) -> const Json& {
    const Json* v = scaling->find(key);
    LP_CHECK(v && !v->is_null(), f.src() << ": llama3 rope scaling needs \"" << where << "." << key << "\"");
    return *v;
  };
  RopeScaling& r = c.rope_scaling;
  r.type = RopeScaling::Type::Llama3;
  r.factor = f.num(field("factor"), std::string(where) + ".factor");
  r.low_freq_factor = f.num(field("low_freq_factor"), std::string(where) + ".low_freq_factor");
  r.high_freq_factor = f.num(field("high_freq_factor"), std::string(where) + ".high_freq_factor");
  r.original_max_position_embeddings =
      f.to_int(field("original_max_position_embeddings"), std::string(where) + ".original_max_position_embeddings");
  LP_CHECK(r.factor > 0 && r.high_freq_factor > r.low_freq_factor && r.original_max_position_embeddings > 0,
           f.src() << ": invalid llama3 rope scaling (need factor > 0, high_freq_factor > low_freq_factor, "
                      "original_max_position_embeddings > 0)");
}

std::vector<int64_t> token_ids(const Fields& f, const char* key) {
  const Json* v = f.get(key);
  if (!v) return {};
  if (v->is_array()) {
    std::vector<int64_t> ids;
    for (const Json& e : v->as_array()) ids.push_back(f.to_int(e, key));
    return ids;
  }
  return {f.to_int(*v, key)};
}

// The runtime's attention is full causal attention: a Qwen2/Qwen3 config that turns on sliding attention for some
// layers (use_sliding_window, layer_types) is refused rather than computed differently from the reference.
void check_no_sliding_layers(const Fields& f, const char* arch) {
  const Json* types = f.get("layer_types");
  bool sliding = f.opt_bool("use_sliding_window", false);
  if (types && types->is_array())
    for (const Json& t : types->as_array())
      sliding = sliding || (t.is_string() && t.as_string() == "sliding_attention");
  LP_CHECK(!sliding,
           f.src() << ": " << arch << " with use_sliding_window (per-layer sliding attention) is not supported");
}

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Llama:
      return "LlamaForCausalLM";
    case Arch::Mistral:
      return "MistralForCausalLM";
    case Arch::Qwen2:
      return "Qwen2ForCausalLM";
    case Arch::Qwen3:
      return "Qwen3ForCausalLM";
  }
  return "?";
}

ModelConfig parse_model_config(const Json& j, const std::string& source) {
  LP_CHECK(j.is_object(), source << ": config is a JSON " << j.type_name() << ", expected an object");
  Fields f(j, source);
  ModelConfig c;
  c.arch = detect_arch(f);
  c.vocab_size = f.req_int("vocab_size");
  c.hidden_size = f.req_int("hidden_size");
  c.intermediate_size = f.req_int("intermediate_size");
  c.num_hidden_layers = f.req_int("num_hidden_layers");
  c.num_attention_heads = f.req_int("num_attention_heads");
  c.max_position_embeddings = f.req_int("max_position_embeddings");
  const Json* eps = f.get("rms_norm_eps");
  LP_CHECK(eps, source << ": missing required key \"rms_norm_eps\"");
  c.rms_norm_eps = f.num(*eps, "rms_norm_eps");
  LP_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 &&
               c.num_attention_heads > 0 && c.max_position_embeddings > 0,
           source << ": vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and "
                     "max_position_embeddings must be positive");

  c.num_key_value_heads = f.opt_int("num_key_value_heads", c.num_attention_heads);
  LP_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0,
           source << ": num_attention_heads (" << c.num_attention_heads
                  << ") must be a multiple of num_key_value_heads (" << c.num_key_value_heads << ")");
  if (f.get("head_dim")) {
    c.head_dim = f.req_int("head_dim");
  } else if (c.arch == Arch::Qwen3) {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / num_attention_heads
  } else {
    LP_CHECK(c.hidden_size % c.num_attention_heads == 0, source << ": no head_dim and hidden_size (" << c.hidden_size
                                                                << ") is not a multiple of num_attention_heads ("
                                                                << c.num_attention_heads << ")");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  LP_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0,
           source << ": head_dim must be positive and even for RoPE, got " << c.head_dim);

  parse_rope(f, c);

  const std::string act = f.opt_string("hidden_act", "silu");
  LP_CHECK(act == "silu", source << ": unsupported hidden_act \"" << act << "\": loraplane implements silu (SwiGLU)");
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings", false);

  switch (c.arch) {
    case Arch::Qwen2:
      c.attention_bias = true;  // Qwen2 always has q/k/v bias and never o_proj bias
      check_no_sliding_layers(f, "Qwen2");
      break;
    case Arch::Qwen3:
      c.attention_bias = c.o_proj_bias = f.opt_bool("attention_bias", false);  // q/k/v and o_proj alike
      c.qk_norm = true;
      check_no_sliding_layers(f, "Qwen3");
      break;
    case Arch::Mistral:
      c.sliding_window = f.opt_int("sliding_window", 0);
      [[fallthrough]];
    case Arch::Llama:
      c.attention_bias = c.o_proj_bias = f.opt_bool("attention_bias", false);
      c.mlp_bias = f.opt_bool("mlp_bias", false);
      break;
  }
  LP_CHECK(c.sliding_window >= 0, source << ": sliding_window must be positive or null, got " << c.sliding_window);

  c.bos_token_id = f.opt_int("bos_token_id", -1);
  c.pad_token_id = f.opt_int("pad_token_id", -1);
  c.eos_token_ids = token_ids(f, "eos_token_id");

  c.torch_dtype = f.opt_string("dtype", f.opt_string("torch_dtype", "float32"));
  LP_CHECK(c.torch_dtype == "float32" || c.torch_dtype == "bfloat16" || c.torch_dtype == "float16",
           source << ": unsupported dtype \"" << c.torch_dtype << "\" (expected float32, bfloat16 or float16)");
  return c;
}

ModelConfig load_model_config(const std::string& path) { return parse_model_config(read_json_file(path), path); }

}  // namespace lp
