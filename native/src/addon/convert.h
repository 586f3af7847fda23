// JS ↔ C++ conversions for the addon's arguments. Arguments are validated in TypeScript first
// (native/lib/runtime.ts); these checks only guard the native boundary and name what was wrong.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "model/llama.h"
#include "train/trainer.h"

namespace lp::addon {

std::string get_string(const Napi::Object& o, const char* key);
double get_number(const Napi::Object& o, const char* key, double fallback);
bool get_bool(const Napi::Object& o, const char* key, bool fallback);
std::vector<int32_t> to_int32_array(const Napi::Value& v, const char* key);
std::vector<int32_t> get_int32_array(const Napi::Object& o, const char* key, bool optional);

LoadOptions to_load_options(const Napi::Object& o);
OptimConfig to_optim_config(const Napi::Object& o);
Batch to_batch(const Napi::Value& v);
std::vector<Batch> to_batches(const Napi::Value& v);

Napi::Object model_info(Napi::Env env, const LlamaModel& m);

}  // namespace lp::addon
