#include "addon/model_wrap.h"

#include <string>

#include "adapter/gguf_export.h"
#include "adapter/peft.h"
#include "addon/convert.h"
#include "addon/worker.h"

namespace lp::addon {

namespace {
Napi::FunctionReference* model_constructor = nullptr;

// Releases the session's busy flag when a worker finishes, however it ends.
std::function<void()> release(const std::shared_ptr<Session>& s) {
  return [s] { s->busy = false; };
}

Napi::Value undefined_value(Napi::Env env) { return env.Undefined(); }
}  // namespace

void ModelWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeModel",
                                   {
                                       StaticMethod("load", &ModelWrap::Load),
                                       InstanceMethod("info", &ModelWrap::Info),
                                       InstanceMethod("configureTraining", &ModelWrap::ConfigureTraining),
                                       InstanceMethod("step", &ModelWrap::Step),
                                       InstanceMethod("joinGroup", &ModelWrap::JoinGroup),
                                       InstanceMethod("allReduceSum", &ModelWrap::AllReduceSum),
                                       InstanceMethod("evaluate", &ModelWrap::Evaluate),
                                       InstanceMethod("logits", &ModelWrap::Logits),
                                       InstanceMethod("generate", &ModelWrap::Generate),
                                       InstanceMethod("saveAdapter", &ModelWrap::SaveAdapter),
                                       InstanceMethod("loadAdapter", &ModelWrap::LoadAdapter),
                                       InstanceMethod("exportMerged", &ModelWrap::ExportMerged),
                                       InstanceMethod("exportGgufAdapter", &ModelWrap::ExportGgufAdapter),
                                       InstanceMethod("exportMergedGguf", &ModelWrap::ExportMergedGguf),
                                       InstanceMethod("saveTrainerState", &ModelWrap::SaveTrainerState),
                                       InstanceMethod("loadTrainerState", &ModelWrap::LoadTrainerState),
                                       InstanceMethod("loraParameters", &ModelWrap::LoraParameters),
                                       InstanceMethod("setAdaptersEnabled", &ModelWrap::SetAdaptersEnabled),
                                       InstanceMethod("free", &ModelWrap::Free),
                                   });
  model_constructor = new Napi::FunctionReference(Napi::Persistent(cls));
  exports.Set("NativeModel", cls);
}

// Only Load creates instances: it passes the finished session in an External.
ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeModel cannot be constructed directly; use NativeModel.load()");
  }
  session_ = *info[0].As<Napi::External<std::shared_ptr<Session>>>().Data();
}

std::shared_ptr<Session> ModelWrap::claim(Napi::Env env, const char* what) {
  if (!session_ || !session_->model) throw Napi::Error::New(env, std::string(what) + ": the model was freed");
  bool expected = false;
  if (!session_->busy.compare_exchange_strong(expected, true)) {
    throw Napi::Error::New(env, std::string(what) + ": another call on this model is still running; await it first");
  }
  return session_;
}

Trainer& ModelWrap::trainer(Napi::Env env) {
  if (!session_->trainer) {
    session_->busy = false;
    throw Napi::Error::New(env, "step: call configureTraining() before training");
  }
  return *session_->trainer;
}

Napi::Value ModelWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "Expected (modelDir: string, options: object) for NativeModel.load");
  }
  auto dir = info[0].As<Napi::String>().Utf8Value();
  auto opts = to_load_options(info[1].As<Napi::Object>());
  auto session = std::make_shared<Session>();
  return PromiseWorker::Start(
      env, "loraplane.load", [session, dir, opts] { session->model = LlamaModel::load(dir, opts); },
      [session](Napi::Env env) -> Napi::Value {
        auto holder = session;
        auto ext = Napi::External<std::shared_ptr<Session>>::New(env, &holder);
        return model_constructor->New({ext});
      });
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  if (!session_ || !session_->model) throw Napi::Error::New(info.Env(), "info: the model was freed");
  return model_info(info.Env(), *session_->model);
}

Napi::Value ModelWrap::ConfigureTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected an options object for configureTraining");
  auto s = claim(env, "configureTraining");
  try {
    s->trainer = std::make_unique<Trainer>(*s->model, to_optim_config(info[0].As<Napi::Object>()));
  } catch (...) {
    s->busy = false;
    throw;
  }
  s->busy = false;
  return env.Undefined();
}

Napi::Value ModelWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto batches = to_batches(info[0]);
  auto s = claim(env, "step");
  Trainer& t = trainer(env);
  auto stats = std::make_shared<StepStats>();
  return PromiseWorker::Start(
      env, "loraplane.step", [s, &t, stats, batches = std::move(batches)] { *stats = t.step(batches, s->group.get()); },
      [stats](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("loss", stats->loss);
        o.Set("gradNorm", stats->grad_norm);
        o.Set("learningRate", stats->lr);
        o.Set("tokens", static_cast<double>(stats->tokens));
        o.Set("step", stats->step);
        o.Set("peakMemoryBytes", static_cast<double>(stats->peak_memory_bytes));
        return o;
      },
      release(s));
}

Napi::Value ModelWrap::JoinGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected an options object for joinGroup");
  const CollectiveConfig cfg = to_collective_config(info[0].As<Napi::Object>());
  auto s = claim(env, "joinGroup");
  if (s->group) {
    const std::string msg = "joinGroup: this model already is rank " + std::to_string(s->group->rank()) +
                            " of a group of " + std::to_string(s->group->world_size()) + "; a model joins one group";
    s->busy = false;
    throw Napi::Error::New(env, msg);
  }
  return PromiseWorker::Start(
      env, "loraplane.joinGroup", [s, cfg] { s->group = make_collective(s->model->backend(), cfg); }, undefined_value,
      release(s));
}

Napi::Value ModelWrap::AllReduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, "Expected a Float32Array for allReduceSum");
  }
  auto in = info[0].As<Napi::Float32Array>();
  auto values = std::make_shared<std::vector<float>>(in.Data(), in.Data() + in.ElementLength());
  auto s = claim(env, "allReduceSum");
  if (!s->group) {
    s->busy = false;
    throw Napi::Error::New(env, "allReduceSum: call joinGroup() first");
  }
  return PromiseWorker::Start(
      env, "loraplane.allReduceSum",
      [s, values] { all_reduce_sum_host(*s->group, s->model->backend(), values->data(), values->size()); },
      [values](Napi::Env env) -> Napi::Value {
        auto arr = Napi::Float32Array::New(env, values->size());
        std::copy(values->begin(), values->end(), arr.Data());
        return arr;
      },
      release(s));
}

Napi::Value ModelWrap::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto batch = to_batch(info[0]);
  auto s = claim(env, "evaluate");
  auto out = std::make_shared<LossStats>();
  return PromiseWorker::Start(
      env, "loraplane.evaluate", [s, out, batch = std::move(batch)] { *out = s->model->evaluate(batch); },
      [out](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("lossSum", out->loss_sum);
        o.Set("tokens", static_cast<double>(out->tokens));
        return o;
      },
      release(s));
}

Napi::Value ModelWrap::Logits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto batch = to_batch(info[0]);
  auto s = claim(env, "logits");
  auto out = std::make_shared<std::vector<float>>();
  return PromiseWorker::Start(
      env, "loraplane.logits", [s, out, batch = std::move(batch)] { s->model->logits(batch, *out); },
      [out](Napi::Env env) -> Napi::Value {
        auto arr = Napi::Float32Array::New(env, out->size());
        std::copy(out->begin(), out->end(), arr.Data());
        return arr;
      },
      release(s));
}

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsObject())
    throw Napi::TypeError::New(env, "Expected (prompt: Int32Array, options: object) for generate");
  auto prompt = to_int32_array(info[0], "prompt");
  const JsFields o = options_of(info[1].As<Napi::Object>(), "generate");
  const int max_new = static_cast<int>(o.number("maxNewTokens"));
  const float temperature = static_cast<float>(o.number("temperature"));
  const float top_p = static_cast<float>(o.number("topP"));
  const uint64_t seed = static_cast<uint64_t>(o.number("seed"));
  auto stop = o.int32_array("stopIds");
  auto s = claim(env, "generate");
  auto out = std::make_shared<std::vector<int32_t>>();
  return PromiseWorker::Start(
      env, "loraplane.generate", [=] { *out = s->model->generate(prompt, max_new, temperature, top_p, seed, stop); },
      [out](Napi::Env env) -> Napi::Value {
        auto arr = Napi::Int32Array::New(env, out->size());
        std::copy(out->begin(), out->end(), arr.Data());
        return arr;
      },
      release(s));
}

namespace {
// The shape shared by every call that takes one path and returns nothing.
template <typename Fn>
Napi::Value path_call(const Napi::CallbackInfo& info, const char* what, std::shared_ptr<Session> s, Fn fn) {
  auto path = info[0].As<Napi::String>().Utf8Value();
  return PromiseWorker::Start(
      info.Env(), what, [s, path, fn] { fn(*s, path); }, undefined_value, release(s));
}

void require_path(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(info.Env(), std::string("Expected a path string for ") + what);
}
}  // namespace

Napi::Value ModelWrap::SaveAdapter(const Napi::CallbackInfo& info) {
  require_path(info, "saveAdapter");
  if (info.Length() < 2 || !info[1].IsString())
    throw Napi::TypeError::New(info.Env(), "Expected (dir, baseModelName) for saveAdapter");
  auto base = info[1].As<Napi::String>().Utf8Value();
  return path_call(info, "loraplane.saveAdapter", claim(info.Env(), "saveAdapter"),
                   [base](Session& s, const std::string& dir) { save_peft_adapter(*s.model, dir, base); });
}

Napi::Value ModelWrap::LoadAdapter(const Napi::CallbackInfo& info) {
  require_path(info, "loadAdapter");
  return path_call(info, "loraplane.loadAdapter", claim(info.Env(), "loadAdapter"),
                   [](Session& s, const std::string& dir) { load_peft_adapter(*s.model, dir); });
}

Napi::Value ModelWrap::ExportMerged(const Napi::CallbackInfo& info) {
  require_path(info, "exportMerged");
  return path_call(info, "loraplane.exportMerged", claim(info.Env(), "exportMerged"),
                   [](Session& s, const std::string& dir) { export_merged(*s.model, dir); });
}

Napi::Value ModelWrap::ExportGgufAdapter(const Napi::CallbackInfo& info) {
  require_path(info, "exportGgufAdapter");
  if (info.Length() < 2 || !info[1].IsString())
    throw Napi::TypeError::New(info.Env(), "Expected (path, baseModelName) for exportGgufAdapter");
  auto base = info[1].As<Napi::String>().Utf8Value();
  return path_call(info, "loraplane.exportGgufAdapter", claim(info.Env(), "exportGgufAdapter"),
                   [base](Session& s, const std::string& path) { export_gguf_adapter(*s.model, path, base); });
}

Napi::Value ModelWrap::ExportMergedGguf(const Napi::CallbackInfo& info) {
  require_path(info, "exportMergedGguf");
  if (info.Length() < 2 || !info[1].IsString())
    throw Napi::TypeError::New(info.Env(), "Expected (path, baseModelName) for exportMergedGguf");
  auto base = info[1].As<Napi::String>().Utf8Value();
  return path_call(info, "loraplane.exportMergedGguf", claim(info.Env(), "exportMergedGguf"),
                   [base](Session& s, const std::string& path) { export_merged_gguf(*s.model, path, base); });
}

Napi::Value ModelWrap::SaveTrainerState(const Napi::CallbackInfo& info) {
  require_path(info, "saveTrainerState");
  auto s = claim(info.Env(), "saveTrainerState");
  trainer(info.Env());
  return path_call(info, "loraplane.saveTrainerState", s,
                   [](Session& s, const std::string& path) { s.trainer->save_state(path); });
}

Napi::Value ModelWrap::LoadTrainerState(const Napi::CallbackInfo& info) {
  require_path(info, "loadTrainerState");
  auto s = claim(info.Env(), "loadTrainerState");
  trainer(info.Env());
  return path_call(info, "loraplane.loadTrainerState", s,
                   [](Session& s, const std::string& path) { s.trainer->load_state(path); });
}

Napi::Value ModelWrap::LoraParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!session_ || !session_->model) throw Napi::Error::New(env, "loraParameters: the model was freed");
  const auto& params = session_->model->lora_params();
  auto arr = Napi::Array::New(env, params.size());
  for (size_t i = 0; i < params.size(); i++) {
    auto o = Napi::Object::New(env);
    o.Set("name", params[i].name);
    auto shape = Napi::Array::New(env, params[i].shape.size());
    for (size_t d = 0; d < params[i].shape.size(); d++) shape.Set(d, static_cast<double>(params[i].shape[d]));
    o.Set("shape", shape);
    auto value = Napi::Float32Array::New(env, params[i].value.size());
    std::copy(params[i].value.begin(), params[i].value.end(), value.Data());
    o.Set("value", value);
    arr.Set(i, o);
  }
  return arr;
}

Napi::Value ModelWrap::SetAdaptersEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw Napi::TypeError::New(env, "Expected a boolean for setAdaptersEnabled");
  auto s = claim(env, "setAdaptersEnabled");
  s->model->set_adapters_enabled(info[0].As<Napi::Boolean>().Value());
  s->busy = false;
  return env.Undefined();
}

Napi::Value ModelWrap::Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!session_) return env.Undefined();
  auto s = claim(env, "free");
  s->group.reset();
  s->trainer.reset();
  s->model.reset();
  s->busy = false;
  session_.reset();
  return env.Undefined();
}

}  // namespace lp::addon
