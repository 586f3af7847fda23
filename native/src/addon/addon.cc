// The Node-API entry point: registers the NativeModel class and the build report, nothing else.
#include <napi.h>

#include "addon/model_wrap.h"
#include "cpu/gemm.h"

namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  auto backends = Napi::Array::New(env, 1);
  backends.Set(0u, "cpu");
  o.Set("backends", backends);
  o.Set("backend", "cpu");
  o.Set("gemm", lp::cpu::gemm_backend_name());
#ifdef _OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  lp::addon::ModelWrap::Init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(loraplane, Init)
