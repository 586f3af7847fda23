// adapter/peft.cpp: PEFT adapter save/load and the merged fp32 export (see peft.h).
#include "adapter/peft.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "core/check.h"
#include "core/safetensors.h"
#include "cpu/gemm.h"

namespace lp {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPeftVersion = "0.21.2";

// A float option as Python would have held it: the shortest decimal that round-trips the float
// (0.05f -> 0.05, not 0.05000000074505806), as a double.
double python_float(float f) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

// lora_alpha is usually an int in Python configs (32, not 32.0).
Json python_number(float f) {
  if (std::floor(f) == f && std::fabs(f) < 1e15f) return Json(static_cast<int64_t>(f));
  return Json(python_float(f));
}

std::vector<std::string> effective_targets(const LoraSpec& spec) {
  std::vector<std::string> t;
  for (const char* m : kLoraModuleNames)
    if (spec.targets(m)) t.emplace_back(m);
  return t;
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    LP_CHECK(f.good(), "cannot open " << tmp << " for writing");
    f << text;
    f.flush();
    LP_CHECK(f.good(), "cannot write " << tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  LP_CHECK(!ec, "cannot rename " << tmp << " to " << path << ": " << ec.message());
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  LP_CHECK(!ec && fs::is_directory(dir), "cannot create directory " << dir << (ec ? ": " + ec.message() : ""));
}

TensorView f32_view(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  TensorView v;
  v.name = name;
  v.dtype = DType::F32;
  v.shape = shape;
  v.data = reinterpret_cast<const uint8_t*>(data);
  v.nbytes = static_cast<size_t>(v.numel()) * sizeof(float);
  return v;
}

}  // namespace

Json peft_adapter_config(const LoraSpec& spec, const std::string& base_model_name) {
  Json targets = Json::array();
  for (const std::string& t : effective_targets(spec)) targets.push_back(t);
  // Every key PEFT 0.21.2's LoraConfig.to_dict() writes, with the defaults of a plain LoRA config.
  Json j = Json::object();
  j.set("alora_invocation_tokens", nullptr);
  j.set("alpha_pattern", Json::object());
  j.set("arrow_config", nullptr);
  j.set("auto_mapping", nullptr);
  j.set("base_model_name_or_path", base_model_name);
  j.set("bias", "none");
  j.set("corda_config", nullptr);
  j.set("ensure_weight_tying", false);
  j.set("eva_config", nullptr);
  j.set("exclude_modules", nullptr);
  j.set("fan_in_fan_out", false);
  j.set("inference_mode", true);
  j.set("init_lora_weights", true);
  j.set("kasa_config", nullptr);
  j.set("layer_replication", nullptr);
  j.set("layers_pattern", nullptr);
  j.set("layers_to_transform", nullptr);
  j.set("loftq_config", Json::object());
  j.set("lora_alpha", python_number(spec.alpha));
  j.set("lora_bias", false);
  j.set("lora_dropout", python_float(spec.dropout));
  j.set("lora_ga_config", nullptr);
  j.set("megatron_config", nullptr);
  j.set("megatron_core", "megatron.core");
  j.set("modules_to_save", nullptr);
  j.set("monteclora_config", nullptr);
  j.set("peft_type", "LORA");
  j.set("peft_version", kPeftVersion);
  j.set("qalora_group_size", 16);
  j.set("r", spec.r);
  j.set("rank_pattern", Json::object());
  j.set("revision", nullptr);
  j.set("target_modules", std::move(targets));
  j.set("target_parameters", nullptr);
  j.set("task_type", "CAUSAL_LM");
  j.set("trainable_token_indices", nullptr);
  j.set("use_bdlora", nullptr);
  j.set("use_dora", false);
  j.set("use_qalora", false);
  j.set("use_rslora", spec.use_rslora);
  j.set("velora_config", nullptr);
  return j;
}

void save_peft_adapter(const LlamaModel& model, const std::string& dir, const std::string& base_model_name) {
  make_dir(dir);
  write_text(dir + "/adapter_config.json",
             peft_adapter_config(model.options().lora, base_model_name).dump_python_pretty());
  std::vector<TensorView> views;
  for (const LoraParam& p : model.lora_params()) views.push_back(f32_view(p.name, p.shape, p.value.data()));
  write_safetensors(dir + "/adapter_model.safetensors", views, {{"format", "pt"}});
}

void load_peft_adapter(LlamaModel& model, const std::string& dir) {
  const std::string config_path = dir + "/adapter_config.json";
  LP_CHECK(fs::is_regular_file(config_path), "adapter dir \"" << dir << "\" has no adapter_config.json");
  const Json cfg = read_json_file(config_path);
  LP_CHECK(cfg.is_object(), config_path << ": expected a JSON object, got " << cfg.type_name());
  const LoraSpec& spec = model.options().lora;
  auto key = [&](const char* k) -> const Json& {
    const Json* v = cfg.find(k);
    LP_CHECK(v, config_path << ": missing key \"" << k << "\"");
    return *v;
  };
  if (const Json* t = cfg.find("peft_type"))
    LP_CHECK(t->is_string() && t->as_string() == "LORA",
             config_path << ": \"peft_type\" is " << t->dump() << ", only \"LORA\" adapters are supported");
  const Json& r = key("r");
  LP_CHECK(r.is_int() && r.as_int() == spec.r,
           config_path << ": \"r\" is " << r.dump() << " but the model's LoRA r is " << spec.r);
  const Json& alpha = key("lora_alpha");
  LP_CHECK(alpha.is_number() && static_cast<float>(alpha.as_double()) == spec.alpha,
           config_path << ": \"lora_alpha\" is " << alpha.dump() << " but the model's LoRA alpha is " << spec.alpha);
  const Json* rs = cfg.find("use_rslora");
  const bool rslora = rs && !rs->is_null() && rs->as_bool();
  LP_CHECK(rslora == spec.use_rslora, config_path << ": \"use_rslora\" is " << (rslora ? "true" : "false")
                                                  << " but the model's LoRA uses "
                                                  << (spec.use_rslora ? "rsLoRA" : "alpha / r"));
  if (const Json* d = cfg.find("use_dora"))
    LP_CHECK(d->is_null() || !d->as_bool(), config_path << ": \"use_dora\" is true; DoRA adapters are not supported");
  for (const char* pattern : {"rank_pattern", "alpha_pattern"})
    if (const Json* p = cfg.find(pattern))
      LP_CHECK(p->is_null() || (p->is_object() && p->size() == 0),
               config_path << ": \"" << pattern << "\" is " << p->dump()
                           << "; per-module ranks and alphas are not supported");
  const Json& tm = key("target_modules");
  LP_CHECK(tm.is_array(), config_path << ": \"target_modules\" is " << tm.dump()
                                      << "; only a list of module names is supported (not a regex)");
  std::set<std::string> file_targets;
  for (const Json& t : tm.as_array()) {
    LP_CHECK(t.is_string(), config_path << ": \"target_modules\" holds " << t.dump() << ", expected module names");
    file_targets.insert(t.as_string());
  }
  const std::vector<std::string> mt = effective_targets(spec);
  const std::set<std::string> model_targets(mt.begin(), mt.end());
  if (file_targets != model_targets) {
    std::string a, b;
    for (const auto& s : file_targets) a += (a.empty() ? "" : " ") + s;
    for (const auto& s : model_targets) b += (b.empty() ? "" : " ") + s;
    LP_CHECK(false, config_path << ": \"target_modules\" is {" << a << "} but the model adapts {" << b << "}");
  }

  const SafetensorsFile file(dir + "/adapter_model.safetensors");
  std::vector<LoraParam>& params = model.lora_params();
  std::set<std::string> expected;
  std::vector<std::vector<float>> staged;  // nothing changes unless every tensor fits
  for (const LoraParam& p : params) {
    expected.insert(p.name);
    const TensorView& t = file.get(p.name);
    LP_CHECK(t.shape == p.shape, file.path()
                                     << ": tensor \"" << p.name << "\" has shape " << shape_str(t.shape)
                                     << " but the model expects " << shape_str(p.shape) << " (r = " << spec.r << ")");
    staged.push_back(to_float32(t));
  }
  for (const TensorView& t : file.tensors())
    LP_CHECK(expected.count(t.name), file.path()
                                         << ": tensor \"" << t.name
                                         << "\" matches no LoRA parameter of the model (different layers or modules?)");
  for (size_t i = 0; i < params.size(); ++i) params[i].value = std::move(staged[i]);
}

std::vector<int64_t> projection_shape(const ModelConfig& c, const std::string& module) {
  const int64_t out = module == "q_proj"                            ? c.q_dim()
                      : module == "k_proj" || module == "v_proj"    ? c.kv_dim()
                      : module == "o_proj" || module == "down_proj" ? c.hidden_size
                                                                    : c.intermediate_size;
  const int64_t in = module == "o_proj" ? c.q_dim() : module == "down_proj" ? c.intermediate_size : c.hidden_size;
  return {out, in};
}

std::vector<float> merged_weight(const LlamaModel& model, int layer, const std::string& module) {
  std::vector<float> w = model.dense_weight(layer, module);
  const LoraParam *A = nullptr, *B = nullptr;
  for (const LoraParam& p : model.lora_params()) {
    if (p.name == lora_key(layer, module, 'A')) A = &p;
    if (p.name == lora_key(layer, module, 'B')) B = &p;
  }
  if (!A) return w;
  LP_CHECK(B, "LoRA parameter " << lora_key(layer, module, 'B') << " is missing");
  // PEFT's get_delta_weight: (B @ A) * scaling in fp32, then W + delta.
  const float scaling = model.options().lora.scaling();
  const int out = static_cast<int>(B->shape[0]), r = static_cast<int>(A->shape[0]), in = static_cast<int>(A->shape[1]);
  std::vector<float> delta(static_cast<size_t>(out) * in);
  cpu::sgemm(false, false, out, in, r, 1.f, B->value.data(), r, A->value.data(), in, 0.f, delta.data(), in);
  for (size_t i = 0; i < w.size(); ++i) w[i] = w[i] + delta[i] * scaling;
  return w;
}

void export_merged(const LlamaModel& model, const std::string& dir) {
  make_dir(dir);
  const ModelConfig& c = model.config();

  // config.json: the source config as a plain fp32 model (no quantization_config).
  Json cfg = Json::object();
  for (const auto& [k, v] : model.hf_config().items()) {
    if (k == "quantization_config") continue;
    cfg.set(k, (k == "dtype" || k == "torch_dtype") ? Json("float32") : v);
  }
  if (!cfg.contains("dtype") && !cfg.contains("torch_dtype")) cfg.set("dtype", "float32");
  write_text(dir + "/config.json", cfg.dump_python_pretty() + "\n");

  // Each tensor is produced only when its shard is written, so memory stays near one shard.
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    std::function<void(std::vector<float>&)> fill;
  };
  std::vector<Entry> entries;
  std::map<std::string, LlamaModel::DenseTensor> dense;
  for (const auto& t : model.dense_tensors()) dense.emplace(t.name, t);
  auto add_dense = [&](const std::string& name) {
    const auto it = dense.find(name);
    if (it == dense.end()) return;
    const LlamaModel::DenseTensor t = it->second;
    entries.push_back({name, t.shape, [t](std::vector<float>& out) {
                         size_t n = 1;
                         for (int64_t d : t.shape) n *= static_cast<size_t>(d);
                         out.assign(t.data, t.data + n);
                       }});
  };
  add_dense("model.embed_tokens.weight");
  for (int l = 0; l < static_cast<int>(c.num_hidden_layers); ++l) {
    const std::string lp = "model.layers." + std::to_string(l);
    add_dense(lp + ".input_layernorm.weight");
    for (int p = 0; p < 7; ++p) {
      const std::string module = kLoraModuleNames[p];
      const std::string prefix = projection_name(l, module);
      entries.push_back({prefix + ".weight", projection_shape(c, module),
                         [&model, l, module](std::vector<float>& w) { w = merged_weight(model, l, module); }});
      add_dense(prefix + ".bias");
    }
    add_dense(lp + ".self_attn.q_norm.weight");  // Qwen3 only
    add_dense(lp + ".self_attn.k_norm.weight");
    add_dense(lp + ".post_attention_layernorm.weight");
  }
  add_dense("model.norm.weight");
  add_dense("lm_head.weight");

  // Shards of at most 2 GiB (one file when the model fits), named as transformers' save_pretrained names them.
  constexpr size_t kShardBytes = size_t{2} << 30;
  std::vector<std::pair<size_t, size_t>> shards;  // [begin, end) into entries
  size_t begin = 0, bytes = 0, total = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    size_t n = sizeof(float);
    for (int64_t d : entries[i].shape) n *= static_cast<size_t>(d);
    if (i > begin && bytes + n > kShardBytes) {
      shards.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += n;
    total += n;
  }
  shards.emplace_back(begin, entries.size());

  Json weight_map = Json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    const std::string file = shards.size() == 1 ? "model.safetensors" : name;
    std::vector<std::vector<float>> data(shards[s].second - shards[s].first);
    std::vector<TensorView> views;
    for (size_t i = shards[s].first; i < shards[s].second; ++i) {
      std::vector<float>& d = data[i - shards[s].first];
      entries[i].fill(d);
      views.push_back(f32_view(entries[i].name, entries[i].shape, d.data()));
      weight_map.set(entries[i].name, file);
    }
    write_safetensors(dir + "/" + file, views, {{"format", "pt"}});
  }
  if (shards.size() > 1) {
    Json index = Json::object();
    Json meta = Json::object();
    meta.set("total_size", static_cast<int64_t>(total));
    index.set("metadata", std::move(meta));
    index.set("weight_map", std::move(weight_map));
    write_text(dir + "/model.safetensors.index.json", index.dump_python_pretty() + "\n");
  }

  // The generation settings travel with the weights; the tokenizer files are the caller's (the trainer writes
  // them from the base it tokenized with, a folder's files or a GGUF's metadata alike).
  const fs::path generation = fs::path(model.model_dir()) / "generation_config.json";
  if (fs::is_regular_file(generation)) {
    std::error_code ec;
    fs::copy_file(generation, fs::path(dir) / "generation_config.json", fs::copy_options::overwrite_existing, ec);
    LP_CHECK(!ec, "cannot copy " << generation.string() << " to " << dir << ": " << ec.message());
  }
}

}  // namespace lp
