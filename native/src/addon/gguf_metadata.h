// ggufMetadata(path): a .gguf file's metadata for the TypeScript side (the trainer builds the tokenizer and
// reads the chat template from it), through the same reader that loads the model, so that one GGUF
// parser validates the file.
#pragma once
#include <napi.h>

namespace lp::addon {

// The metadata as a JSON string (JSON.parse on the JS side: a 49k-entry token array crosses the boundary
// as one string rather than 49k Napi values). Throws naming the file and what is wrong with it.
Napi::Value GgufMetadata(const Napi::CallbackInfo& info);

}  // namespace lp::addon
