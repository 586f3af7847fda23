// The JS `NativeModel` class: one loaded model (and its trainer), every long call a promise that runs
// off the event loop. One call at a time per model: a second one while the first runs is refused.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "collective/collective.h"
#include "model/llama.h"
#include "train/trainer.h"

namespace lp::addon {

struct Session {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Trainer> trainer;
  // The data-parallel group this model joined (joinGroup); step runs as one of its ranks. Declared
  // after the model: destroyed before it (nccl works on the model's backend stream).
  std::unique_ptr<Collective> group;
  std::atomic<bool> busy{false};
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ConfigureTraining(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value JoinGroup(const Napi::CallbackInfo& info);
  Napi::Value AllReduceSum(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value SaveAdapter(const Napi::CallbackInfo& info);
  Napi::Value LoadAdapter(const Napi::CallbackInfo& info);
  Napi::Value ExportMerged(const Napi::CallbackInfo& info);
  Napi::Value ExportGgufAdapter(const Napi::CallbackInfo& info);
  Napi::Value ExportMergedGguf(const Napi::CallbackInfo& info);
  Napi::Value SaveTrainerState(const Napi::CallbackInfo& info);
  Napi::Value LoadTrainerState(const Napi::CallbackInfo& info);
  Napi::Value LoraParameters(const Napi::CallbackInfo& info);
  Napi::Value SetAdaptersEnabled(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);

  // Claims the session for one call; throws a JS error when freed or busy.
  std::shared_ptr<Session> claim(Napi::Env env, const char* what);
  Trainer& trainer(Napi::Env env);

  std::shared_ptr<Session> session_;
};

}  // namespace lp::addon
