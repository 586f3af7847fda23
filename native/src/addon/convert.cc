#include "addon/convert.h"

#include "core/check.h"

namespace lp::addon {

namespace {
[[noreturn]] void type_error(const char* key, const char* expected) {
  throw Error(std::string("Expected ") + expected + " for " + key);
}
}  // namespace

std::string get_string(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) type_error(key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

double get_number(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) type_error(key, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) type_error(key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::vector<int32_t> to_int32_array(const Napi::Value& v, const char* key) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) type_error(key, "an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<int32_t> get_int32_array(const Napi::Object& o, const char* key, bool optional) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && optional) return {};
  return to_int32_array(v, key);
}

LoadOptions to_load_options(const Napi::Object& o) {
  LoadOptions opts;
  opts.quantize = get_bool(o, "quantize", true);
  if (o.Has("quantType")) opts.quant_type = parse_quant_type(get_string(o, "quantType"), "quantType");
  opts.double_quant = get_bool(o, "doubleQuant", true);
  opts.blocksize = static_cast<int>(get_number(o, "blockSize", 64));
  opts.activation_checkpointing = get_bool(o, "activationCheckpointing", true);
  if (o.Has("backend")) opts.backend = parse_backend_kind(get_string(o, "backend"), "backend");
  if (o.Has("precision")) opts.precision = parse_precision(get_string(o, "precision"), "precision");
  if (o.Has("lora")) {
    Napi::Value lv = o.Get("lora");
    if (!lv.IsObject()) type_error("lora", "an object");
    auto l = lv.As<Napi::Object>();
    opts.lora.r = static_cast<int>(get_number(l, "r", 16));
    opts.lora.alpha = static_cast<float>(get_number(l, "alpha", 32));
    opts.lora.dropout = static_cast<float>(get_number(l, "dropout", 0.05));
    opts.lora.use_rslora = get_bool(l, "useRslora", false);
    opts.lora.seed = static_cast<uint64_t>(get_number(l, "seed", 42));
    if (l.Has("targetModules")) {
      Napi::Value tv = l.Get("targetModules");
      if (!tv.IsArray()) type_error("lora.targetModules", "an array of strings");
      auto arr = tv.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value s = arr.Get(i);
        if (!s.IsString()) type_error("lora.targetModules", "an array of strings");
        opts.lora.target_modules.push_back(s.As<Napi::String>().Utf8Value());
      }
    }
  }
  return opts;
}

OptimConfig to_optim_config(const Napi::Object& o) {
  OptimConfig c;
  c.lr = get_number(o, "learningRate", c.lr);
  c.beta1 = get_number(o, "beta1", c.beta1);
  c.beta2 = get_number(o, "beta2", c.beta2);
  c.eps = get_number(o, "eps", c.eps);
  c.weight_decay = get_number(o, "weightDecay", c.weight_decay);
  c.max_grad_norm = get_number(o, "maxGradNorm", c.max_grad_norm);
  c.warmup_steps = static_cast<int>(get_number(o, "warmupSteps", 0));
  c.total_steps = static_cast<int>(get_number(o, "totalSteps", 1));
  c.schedule = o.Has("lrScheduler") ? parse_lr_schedule(get_string(o, "lrScheduler")) : LrSchedule::Cosine;
  return c;
}

Batch to_batch(const Napi::Value& v) {
  if (!v.IsObject()) type_error("batch", "an object");
  auto o = v.As<Napi::Object>();
  Batch b;
  b.B = static_cast<int>(get_number(o, "rows", 0));
  b.T = static_cast<int>(get_number(o, "tokens", 0));
  b.input_ids = get_int32_array(o, "inputIds", false);
  b.labels = get_int32_array(o, "labels", true);
  b.position_ids = get_int32_array(o, "positionIds", true);
  const size_t n = static_cast<size_t>(b.B) * static_cast<size_t>(b.T);
  LP_CHECK(b.B > 0 && b.T > 0, "batch.rows and batch.tokens must be positive, got " << b.B << " x " << b.T);
  LP_CHECK(b.input_ids.size() == n, "batch.inputIds has " << b.input_ids.size() << " ids, expected rows*tokens = " << n);
  LP_CHECK(b.labels.empty() || b.labels.size() == n, "batch.labels has " << b.labels.size() << " entries, expected " << n);
  LP_CHECK(b.position_ids.empty() || b.position_ids.size() == n,
           "batch.positionIds has " << b.position_ids.size() << " entries, expected " << n);
  return b;
}

std::vector<Batch> to_batches(const Napi::Value& v) {
  if (!v.IsArray()) type_error("microBatches", "an array of batches");
  auto arr = v.As<Napi::Array>();
  std::vector<Batch> out;
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(to_batch(arr.Get(i)));
  LP_CHECK(!out.empty(), "a training step needs at least one micro-batch");
  return out;
}

Napi::Object model_info(Napi::Env env, const LlamaModel& m) {
  const ModelConfig& c = m.config();
  auto o = Napi::Object::New(env);
  o.Set("architecture", arch_name(c.arch));
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("layers", static_cast<double>(c.num_hidden_layers));
  o.Set("attentionHeads", static_cast<double>(c.num_attention_heads));
  o.Set("keyValueHeads", static_cast<double>(c.num_key_value_heads));
  o.Set("baseBytes", static_cast<double>(m.base_bytes()));
  o.Set("backend", m.backend().name());
  o.Set("device", m.backend().device_name());
  double trainable = 0;
  for (const auto& p : m.lora_params()) trainable += static_cast<double>(p.value.size());
  o.Set("trainableParameters", trainable);
  return o;
}

}  // namespace lp::addon
