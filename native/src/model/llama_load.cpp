// model/llama_load.cpp: LlamaModel::load (HF folder -> frozen 4-bit base + LoRA params), LoRA init,
// RoPE inverse frequencies, and the model's accessors.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "core/check.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "model/gguf_base.h"
#include "model/llama_impl.h"
#include "model/rope_tables.h"

namespace lp {

const char* const kLoraModuleNames[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

float LoraSpec::scaling() const {
  return static_cast<float>(use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : static_cast<double>(alpha) / r);
}

bool LoraSpec::targets(const std::string& module) const {
  return target_modules.empty() ||
         std::find(target_modules.begin(), target_modules.end(), module) != target_modules.end();
}

int64_t count_loss_tokens(const Batch& b) {
  LP_CHECK(b.B >= 0 && b.T >= 0 && b.labels.size() == static_cast<size_t>(b.B) * b.T,
           "batch labels holds " << b.labels.size() << " labels, expected B * T = " << static_cast<int64_t>(b.B) * b.T);
  int64_t n = 0;
  for (int i = 0; i < b.B; ++i)
    for (int t = 0; t + 1 < b.T; ++t) n += b.labels[static_cast<size_t>(i) * b.T + t + 1] != -100;
  return n;
}

namespace {

bool is_dir(const std::string& p) {
  struct stat s;
  return ::stat(p.c_str(), &s) == 0 && S_ISDIR(s.st_mode);
}
bool is_file(const std::string& p) {
  struct stat s;
  return ::stat(p.c_str(), &s) == 0 && S_ISREG(s.st_mode);
}

int proj_index(const std::string& module) {
  for (int i = 0; i < kNumProj; ++i)
    if (module == kLoraModuleNames[i]) return i;
  return -1;
}

void check_options(const LoadOptions& o) {
  const LoraSpec& l = o.lora;
  LP_CHECK(l.r > 0, "LoRA r must be positive, got " << l.r);
  LP_CHECK(l.alpha > 0, "LoRA alpha must be positive, got " << l.alpha);
  LP_CHECK(l.dropout >= 0 && l.dropout < 1, "LoRA dropout must be in [0, 1), got " << l.dropout);
  std::set<std::string> seen;
  for (const auto& m : l.target_modules) {
    LP_CHECK(proj_index(m) >= 0, "LoRA target module \""
                                     << m
                                     << "\" is not one of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj");
    LP_CHECK(seen.insert(m).second, "LoRA target module \"" << m << "\" is listed twice");
  }
}

// transformers' _compute_default_rope_parameters, then _compute_llama3_parameters when configured.
std::vector<float> compute_inv_freq(const ModelConfig& c) {
  std::vector<float> inv(static_cast<size_t>(c.head_dim / 2));
  rope_inv_freq(inv.data(), static_cast<int>(c.head_dim), c.rope_theta);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScaling::Type::Llama3)
    rope_llama3_scaling(inv.data(), static_cast<int>(c.head_dim), s.factor, s.low_freq_factor, s.high_freq_factor,
                        static_cast<double>(s.original_max_position_embeddings));
  return inv;
}

}  // namespace

std::unique_ptr<LlamaModel> LlamaModel::load(const std::string& model_dir, const LoadOptions& opts) {
  // A .gguf file is a base model too: its tensors by their HF names, its metadata as config.json.
  const bool gguf = is_file(model_dir) && model_dir.size() > 5 && model_dir.substr(model_dir.size() - 5) == ".gguf";
  LP_CHECK(gguf || is_dir(model_dir),
           "model dir \"" << model_dir << "\" does not exist or is not a directory (nor a .gguf file)");
  const std::string config_path = gguf ? model_dir : model_dir + "/config.json";
  LP_CHECK(gguf || is_file(config_path),
           "model dir \"" << model_dir << "\" has no config.json (expected a Hugging Face model folder)");
  check_options(opts);

  std::unique_ptr<LlamaModel> model(new LlamaModel());
  Impl& m = *model->impl_;
  const std::unique_ptr<GgufBase> gg = gguf ? std::make_unique<GgufBase>(model_dir) : nullptr;
  m.be = make_backend(opts.backend, opts.precision);
  Backend* be = m.be.get();
  m.ws.bind(be);
  m.dir = model_dir;
  m.hf_config = gguf ? gg->hf_config() : read_json_file(config_path);
  m.cfg = parse_model_config(m.hf_config, config_path);
  m.opts = opts;
  m.scaling = opts.lora.scaling();
  m.inv_freq = compute_inv_freq(m.cfg);
  const ModelConfig& c = m.cfg;
  const std::unique_ptr<SafetensorsDir> st = gguf ? nullptr : std::make_unique<SafetensorsDir>(model_dir);

  // A tensor by its HF name, checked against the shape config.json implies, read into fp32.
  auto read = [&](const std::string& name, const std::vector<int64_t>& shape, float* out) {
    const std::vector<int64_t>& got = gguf ? gg->shape(name) : st->get(name).shape;
    LP_CHECK(got == shape, "tensor \"" << name << "\" in " << model_dir << " has shape " << shape_str(got)
                                       << ", expected " << shape_str(shape) << " from "
                                       << (gguf ? "its metadata" : "config.json"));
    if (gguf) return gg->read(name, out);
    const TensorView& t = st->get(name);
    to_float32(t, out);
    release_pages(t);
  };

  // Dense frozen tensors are converted to fp32 copies; their names are indexed for export.
  std::vector<std::pair<std::string, std::vector<float>*>> dense;
  auto load_dense = [&](const std::string& name, std::vector<int64_t> shape, std::vector<float>& out) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    out.resize(static_cast<size_t>(n));
    read(name, shape, out.data());
    dense.emplace_back(name, &out);
    m.dense_index.push_back({name, std::move(shape), nullptr});
  };

  load_dense("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, m.embed);
  const int L = static_cast<int>(c.num_hidden_layers);
  m.layers.resize(static_cast<size_t>(L));
  std::vector<float> tmp;  // one projection in fp32, reused: peak memory stays near the quantized size
  for (int l = 0; l < L; ++l) {
    Layer& layer = m.layers[static_cast<size_t>(l)];
    const std::string lp = "model.layers." + std::to_string(l);
    load_dense(lp + ".input_layernorm.weight", {c.hidden_size}, layer.attn_norm);
    for (int p = 0; p < kNumProj; ++p) {
      Proj& pr = layer.proj[p];
      const std::string prefix = projection_name(l, kLoraModuleNames[p]);
      pr.out = static_cast<int>(p == kQ                 ? c.q_dim()
                                : p == kK || p == kV    ? c.kv_dim()
                                : p == kO || p == kDown ? c.hidden_size
                                                        : c.intermediate_size);
      pr.in = static_cast<int>(p == kO ? c.q_dim() : p == kDown ? c.intermediate_size : c.hidden_size);
      const std::vector<int64_t> shape{pr.out, pr.in};
      if (!gguf && (st->contains(prefix + ".weight.quant_state.bitsandbytes__nf4") ||
                    st->contains(prefix + ".weight.quant_state.bitsandbytes__fp4"))) {
        pr.quantized = true;
        pr.qs = load_quant_state(*st, prefix);
        LP_CHECK(pr.qs.shape == shape, "4-bit weight \"" << prefix << ".weight\" in " << model_dir << " has shape "
                                                         << shape_str(pr.qs.shape) << ", expected " << shape_str(shape)
                                                         << " from config.json");
      } else {
        tmp.resize(static_cast<size_t>(pr.out) * pr.in);
        read(prefix + ".weight", shape, tmp.data());
        if (opts.quantize) {
          pr.quantized = true;
          pr.qs = quantize_weight(tmp.data(), shape, opts.quant_type, opts.blocksize, opts.double_quant, c.torch_dtype);
        } else {
          pr.dense = tmp;
        }
      }
      const bool has_bias = p <= kV ? c.attention_bias : p == kO ? c.o_proj_bias : c.mlp_bias;
      if (has_bias) load_dense(prefix + ".bias", {pr.out}, pr.bias);
      // Layer by layer into the backend (a device backend copies it now, one projection at a time, and
      // the host keeps only the 4-bit state's metadata: export and merging download it again).
      pr.w =
          be->frozen_weight(pr.quantized ? &pr.qs : nullptr, pr.quantized ? nullptr : pr.dense.data(), pr.out, pr.in);
      if (pr.quantized) {
        const QuantState& q = pr.qs;
        pr.state_bytes = q.packed.size() + q.absmax.size() * sizeof(float) + q.absmax_codes.size() +
                         q.nested_absmax.size() * sizeof(float) + q.nested_quant_map.size() * sizeof(float);
        if (!be->host_visible()) {
          for (std::vector<float>* v : {&pr.qs.absmax, &pr.qs.nested_absmax, &pr.qs.nested_quant_map})
            std::vector<float>().swap(*v);
          for (std::vector<uint8_t>* v : {&pr.qs.packed, &pr.qs.absmax_codes}) std::vector<uint8_t>().swap(*v);
          pr.host_released = true;
        }
      }
      pr.bias_d.bind(be);
      pr.bias_d.mirror(pr.bias);
    }
    if (c.qk_norm) {
      load_dense(lp + ".self_attn.q_norm.weight", {c.head_dim}, layer.q_norm);
      load_dense(lp + ".self_attn.k_norm.weight", {c.head_dim}, layer.k_norm);
    }
    load_dense(lp + ".post_attention_layernorm.weight", {c.hidden_size}, layer.mlp_norm);
    using Norm = std::pair<Buffer<float>*, const std::vector<float>*>;
    for (const Norm& n : {Norm{&layer.attn_norm_d, &layer.attn_norm}, Norm{&layer.mlp_norm_d, &layer.mlp_norm},
                          Norm{&layer.q_norm_d, &layer.q_norm}, Norm{&layer.k_norm_d, &layer.k_norm}}) {
      n.first->bind(be);
      n.first->mirror(*n.second);
    }
  }
  load_dense("model.norm.weight", {c.hidden_size}, m.final_norm);
  if (!c.tie_word_embeddings) load_dense("lm_head.weight", {c.vocab_size, c.hidden_size}, m.lm_head);
  for (size_t i = 0; i < dense.size(); ++i) m.dense_index[i].data = dense[i].second->data();
  m.final_norm_d.bind(be);
  m.final_norm_d.mirror(m.final_norm);
  const int V = static_cast<int>(c.vocab_size), C = static_cast<int>(c.hidden_size);
  m.embed_w = be->frozen_weight(nullptr, m.embed.data(), V, C);
  if (!m.lm_head.empty()) m.lm_head_w = be->frozen_weight(nullptr, m.lm_head.data(), V, C);

  // LoRA params in PEFT's key order; A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform(a=sqrt(5))), B = 0.
  const int r = opts.lora.r;
  for (int l = 0; l < L; ++l) {
    for (int p = 0; p < kNumProj; ++p) {
      if (!opts.lora.targets(kLoraModuleNames[p])) continue;
      Proj& pr = m.layers[static_cast<size_t>(l)].proj[p];
      pr.lora = static_cast<int>(m.params.size());
      LoraParam a{lora_key(l, kLoraModuleNames[p], 'A'), {r, pr.in}, {}, {}};
      LoraParam b{lora_key(l, kLoraModuleNames[p], 'B'), {pr.out, r}, {}, {}};
      a.value.resize(static_cast<size_t>(r) * pr.in);
      const float bound = 1.0f / std::sqrt(static_cast<float>(pr.in));
      Rng(opts.lora.seed, m.params.size())
          .fill_uniform(a.value.data(), static_cast<int64_t>(a.value.size()), -bound, bound);
      b.value.assign(static_cast<size_t>(pr.out) * r, 0.f);
      a.grad.assign(a.value.size(), 0.f);
      b.grad.assign(b.value.size(), 0.f);
      m.params.push_back(std::move(a));
      m.params.push_back(std::move(b));
    }
  }
  if (!be->host_visible()) {  // the LoRA tensors' home is the device; params become host copies
    m.dparams.resize(m.params.size());
    for (LoraBuffers& d : m.dparams) {
      d.value.bind(be);
      d.grad.bind(be);
    }
    m.device_fresh = false;
  }
  return model;
}

void LlamaModel::Impl::sync_to_device() {
  if (!device_fresh) {
    for (size_t i = 0; i < params.size(); ++i) {
      dparams[i].value.upload(params[i].value);
      dparams[i].grad.upload(params[i].grad);
    }
    device_fresh = true;
  }
  host_fresh = dparams.empty();  // the backend is about to change its copy
}

const QuantState& LlamaModel::Impl::host_state(Proj& p) {
  if (p.host_released) {
    p.w->download(p.qs);
    p.host_released = false;
  }
  return p.qs;
}

void LlamaModel::Impl::sync_to_host() {
  if (host_fresh) return;
  for (size_t i = 0; i < params.size(); ++i) {
    dparams[i].value.download(params[i].value.data(), params[i].value.size());
    dparams[i].grad.download(params[i].grad.data(), params[i].grad.size());
  }
  host_fresh = true;
}

LlamaModel::LlamaModel() : impl_(new Impl()) {}
LlamaModel::~LlamaModel() = default;

const ModelConfig& LlamaModel::config() const { return impl_->cfg; }
const LoadOptions& LlamaModel::options() const { return impl_->opts; }
std::vector<LoraParam>& LlamaModel::lora_params() {
  impl_->sync_to_host();
  impl_->device_fresh = impl_->dparams.empty();  // the caller may edit the host copies
  return impl_->params;
}
const std::vector<LoraParam>& LlamaModel::lora_params() const {
  impl_->sync_to_host();
  return impl_->params;
}
Backend& LlamaModel::backend() { return *impl_->be; }
const Backend& LlamaModel::backend() const { return *impl_->be; }
LlamaModel::LoraTensors LlamaModel::lora_tensors() {
  Impl& m = *impl_;
  m.sync_to_device();
  LoraTensors t;
  for (size_t i = 0; i < m.params.size(); ++i) {
    t.value.push_back(m.lora_value(i));
    t.grad.push_back(m.lora_grad(i));
    t.size.push_back(static_cast<int64_t>(m.params[i].value.size()));
  }
  return t;
}
void LlamaModel::set_adapters_enabled(bool on) { impl_->adapters = on; }
bool LlamaModel::adapters_enabled() const { return impl_->adapters; }
uint64_t LlamaModel::dropout_calls() const { return impl_->dropout_calls; }
void LlamaModel::set_dropout_calls(uint64_t calls) { impl_->dropout_calls = calls; }
const std::string& LlamaModel::model_dir() const { return impl_->dir; }
const Json& LlamaModel::hf_config() const { return impl_->hf_config; }
const std::vector<float>& LlamaModel::rope_inv_freq() const { return impl_->inv_freq; }
std::vector<LlamaModel::DenseTensor> LlamaModel::dense_tensors() const { return impl_->dense_index; }

void LlamaModel::zero_grad() {
  Impl& m = *impl_;
  if (m.dparams.empty()) {
    for (LoraParam& p : m.params) std::fill(p.grad.begin(), p.grad.end(), 0.f);
    return;
  }
  m.sync_to_device();
  for (LoraBuffers& d : m.dparams) m.be->zero(d.grad.data(), d.grad.size() * sizeof(float));
}

size_t LlamaModel::base_bytes() const {
  size_t n = 0;
  for (const DenseTensor& t : impl_->dense_index) {
    size_t e = 1;
    for (int64_t d : t.shape) e *= static_cast<size_t>(d);
    n += e * sizeof(float);
  }
  for (const Layer& l : impl_->layers) {
    for (const Proj& p : l.proj) {
      n += p.quantized ? p.state_bytes : p.dense.size() * sizeof(float);
    }
  }
  return n;
}

std::string projection_name(int layer, const std::string& module) {
  const int p = proj_index(module);
  LP_CHECK(p >= 0, "unknown projection \"" << module << "\"");
  return "model.layers." + std::to_string(layer) + (p < kGate ? ".self_attn." : ".mlp.") + module;
}

std::string lora_key(int layer, const std::string& module, char ab) {
  return "base_model.model." + projection_name(layer, module) + ".lora_" + ab + ".weight";
}

std::vector<float> LlamaModel::dense_weight(int layer, const std::string& module) const {
  const int p = proj_index(module);
  LP_CHECK(p >= 0, "unknown projection \"" << module << "\"");
  LP_CHECK(layer >= 0 && layer < static_cast<int>(impl_->layers.size()),
           "layer " << layer << " out of range (the model has " << impl_->layers.size() << ")");
  Proj& pr = impl_->layers[static_cast<size_t>(layer)].proj[p];
  if (!pr.quantized) return pr.dense;
  std::vector<float> w(static_cast<size_t>(pr.out) * pr.in);
  impl_->host_state(pr).dequantize(w.data());
  return w;
}

const QuantState* LlamaModel::quant_state(int layer, const std::string& module) const {
  const int p = proj_index(module);
  LP_CHECK(p >= 0, "unknown projection \"" << module << "\"");
  LP_CHECK(layer >= 0 && layer < static_cast<int>(impl_->layers.size()),
           "layer " << layer << " out of range (the model has " << impl_->layers.size() << ")");
  Proj& pr = impl_->layers[static_cast<size_t>(layer)].proj[p];
  return pr.quantized ? &impl_->host_state(pr) : nullptr;
}

}  // namespace lp
