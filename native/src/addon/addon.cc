// The Node-API entry point: registers the NativeModel class, the build report and the GGUF metadata reader.
#include <napi.h>

#include "addon/gguf_metadata.h"
#include "addon/model_wrap.h"
#include "backend/select.h"
#include "cpu/gemm.h"

namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  const std::vector<std::string> compiled = lp::compiled_backends();
  auto backends = Napi::Array::New(env, compiled.size());
  for (uint32_t i = 0; i < compiled.size(); ++i) backends.Set(i, compiled[i]);
  o.Set("backends", backends);
  // What backend "auto" takes on this machine now, and why when that is not cuda in a CUDA build.
  const lp::BackendChoice choice =
      lp::choose_backend(lp::BackendKind::Auto, compiled.size() > 1, lp::probe_cuda_devices());
  o.Set("backend", lp::backend_kind_name(choice.kind));
  if (!choice.note.empty()) o.Set("backendNote", choice.note);
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
  exports.Set("ggufMetadata", Napi::Function::New(env, lp::addon::GgufMetadata));
  lp::addon::ModelWrap::Init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(loraplane, Init)
