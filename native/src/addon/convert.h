// JS ↔ C++ conversions for the addon's arguments. Options are declared once, with their defaults, by
// the zod schemas of native/lib/options.ts; the TypeScript API passes them parsed, so here every key is
// required and a missing one is an error that names it. Values are validated in TypeScript first;
// these checks only guard the native boundary and name what was wrong.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "collective/collective.h"
#include "model/llama.h"
#include "train/trainer.h"

namespace lp::addon {

// The keys of one JS object, each required unless read through present(). `where` names the object
// in errors ("the options of NativeModel.load"); `prefix` is its path in the caller's object ("lora.").
class JsFields {
 public:
  JsFields(Napi::Object o, std::string where, std::string prefix = "");
  bool present(const char* key) const;  // there and not undefined
  double number(const char* key) const;
  bool boolean(const char* key) const;
  std::string string(const char* key) const;
  std::vector<std::string> strings(const char* key) const;
  std::vector<int32_t> int32_array(const char* key) const;
  JsFields object(const char* key) const;

 private:
  Napi::Value get(const char* key) const;
  [[noreturn]] void type_error(const char* key, const char* expected, const Napi::Value& v) const;
  Napi::Object o_;
  std::string where_, prefix_;
};

// The options of `call`, e.g. "NativeModel.load" (errors point to native/lib/options.ts).
JsFields options_of(const Napi::Object& o, const char* call);
std::vector<int32_t> to_int32_array(const Napi::Value& v, const char* key);

LoadOptions to_load_options(const Napi::Object& o);
OptimConfig to_optim_config(const Napi::Object& o);
CollectiveConfig to_collective_config(const Napi::Object& o);
Batch to_batch(const Napi::Value& v);
std::vector<Batch> to_batches(const Napi::Value& v);

Napi::Object model_info(Napi::Env env, const LlamaModel& m);

}  // namespace lp::addon
