#include "addon/convert.h"

#include <utility>

#include "core/check.h"

namespace lp::addon {

namespace {
const char* js_type(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) return "a typed array";
  return "an object";
}
}  // namespace

JsFields::JsFields(Napi::Object o, std::string where, std::string prefix)
    : o_(o), where_(std::move(where)), prefix_(std::move(prefix)) {}

bool JsFields::present(const char* key) const { return !o_.Get(key).IsUndefined(); }

Napi::Value JsFields::get(const char* key) const {
  Napi::Value v = o_.Get(key);
  if (v.IsUndefined()) throw Error("Missing " + prefix_ + key + " in " + where_);
  return v;
}

void JsFields::type_error(const char* key, const char* expected, const Napi::Value& v) const {
  throw Error(std::string("Expected ") + expected + " for " + prefix_ + key + " but received " + js_type(v));
}

double JsFields::number(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsNumber()) type_error(key, "a number", v);
  return v.As<Napi::Number>().DoubleValue();
}

bool JsFields::boolean(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsBoolean()) type_error(key, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string JsFields::string(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsString()) type_error(key, "a string", v);
  return v.As<Napi::String>().Utf8Value();
}

std::vector<std::string> JsFields::strings(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsArray()) type_error(key, "an array of strings", v);
  auto arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value s = arr.Get(i);
    if (!s.IsString()) type_error(key, "an array of strings", v);
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<int32_t> JsFields::int32_array(const char* key) const {
  return to_int32_array(get(key), (prefix_ + key).c_str());
}

JsFields JsFields::object(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsObject() || v.IsArray()) type_error(key, "an object", v);
  return JsFields(v.As<Napi::Object>(), where_, prefix_ + key + ".");
}

JsFields options_of(const Napi::Object& o, const char* call) {
  return JsFields(o, std::string("the options of ") + call +
                         " (native/lib/options.ts declares every option with its default; pass them parsed)");
}

std::vector<int32_t> to_int32_array(const Napi::Value& v, const char* key) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Error(std::string("Expected an Int32Array for ") + key + " but received " + js_type(v));
  }
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

LoadOptions to_load_options(const Napi::Object& obj) {
  const JsFields o = options_of(obj, "NativeModel.load");
  LoadOptions opts;
  opts.quantize = o.boolean("quantize");
  opts.quant_type = parse_quant_type(o.string("quantType"), "quantType");
  opts.double_quant = o.boolean("doubleQuant");
  opts.blocksize = static_cast<int>(o.number("blockSize"));
  opts.activation_checkpointing = o.boolean("activationCheckpointing");
  opts.backend = parse_backend_kind(o.string("backend"), "backend");
  opts.precision = parse_precision(o.string("precision"), "precision");
  const JsFields l = o.object("lora");
  opts.lora.r = static_cast<int>(l.number("r"));
  opts.lora.alpha = static_cast<float>(l.number("alpha"));
  opts.lora.dropout = static_cast<float>(l.number("dropout"));
  opts.lora.use_rslora = l.boolean("useRslora");
  opts.lora.seed = static_cast<uint64_t>(l.number("seed"));
  opts.lora.target_modules = l.strings("targetModules");
  return opts;
}

OptimConfig to_optim_config(const Napi::Object& obj) {
  const JsFields o = options_of(obj, "configureTraining");
  OptimConfig c;
  c.lr = o.number("learningRate");
  c.beta1 = o.number("beta1");
  c.beta2 = o.number("beta2");
  c.eps = o.number("eps");
  c.weight_decay = o.number("weightDecay");
  c.max_grad_norm = o.number("maxGradNorm");
  c.warmup_steps = static_cast<int>(o.number("warmupSteps"));
  c.total_steps = static_cast<int>(o.number("totalSteps"));
  c.schedule = parse_lr_schedule(o.string("lrScheduler"));
  return c;
}

CollectiveConfig to_collective_config(const Napi::Object& obj) {
  const JsFields o = options_of(obj, "joinGroup");
  CollectiveConfig c;
  c.rank = static_cast<int>(o.number("rank"));
  c.world_size = static_cast<int>(o.number("worldSize"));
  c.master_addr = o.string("masterAddr");
  c.master_port = static_cast<int>(o.number("masterPort"));
  c.join_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.number("joinTimeoutMs")));
  c.op_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.number("opTimeoutMs")));
  validate(c);
  return c;
}

Batch to_batch(const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray()) throw Error(std::string("Expected an object for batch but received ") + js_type(v));
  const JsFields o(v.As<Napi::Object>(), "a batch", "batch.");
  Batch b;
  b.B = static_cast<int>(o.number("rows"));
  b.T = static_cast<int>(o.number("tokens"));
  b.input_ids = o.int32_array("inputIds");
  if (o.present("labels")) b.labels = o.int32_array("labels");
  if (o.present("positionIds")) b.position_ids = o.int32_array("positionIds");
  const size_t n = static_cast<size_t>(b.B) * static_cast<size_t>(b.T);
  LP_CHECK(b.B > 0 && b.T > 0, "batch.rows and batch.tokens must be positive, got " << b.B << " x " << b.T);
  LP_CHECK(b.input_ids.size() == n,
           "batch.inputIds has " << b.input_ids.size() << " ids, expected rows*tokens = " << n);
  LP_CHECK(b.labels.empty() || b.labels.size() == n,
           "batch.labels has " << b.labels.size() << " entries, expected " << n);
  LP_CHECK(b.position_ids.empty() || b.position_ids.size() == n,
           "batch.positionIds has " << b.position_ids.size() << " entries, expected " << n);
  return b;
}

std::vector<Batch> to_batches(const Napi::Value& v) {
  if (!v.IsArray())
    throw Error(std::string("Expected an array of batches for microBatches but received ") + js_type(v));
  auto arr = v.As<Napi::Array>();
  std::vector<Batch> out;
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(to_batch(arr.Get(i)));
  return out;  // may be empty: a rank of a group with nothing this step (Trainer::step refuses it otherwise)
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
