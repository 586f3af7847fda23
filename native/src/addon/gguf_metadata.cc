#include "addon/gguf_metadata.h"

#include "core/gguf.h"

namespace lp::addon {

Napi::Value GgufMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "Expected (path: string) for ggufMetadata");
  // Opening validates the whole file (header, every metadata value and tensor info); the tensor data is
  // mapped, not read.
  const GgufFile file(info[0].As<Napi::String>().Utf8Value());
  return Napi::String::New(env, file.metadata().dump());
}

}  // namespace lp::addon
