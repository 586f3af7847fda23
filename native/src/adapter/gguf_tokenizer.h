// adapter/gguf_tokenizer.h: a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json, chat_template.jinja)
// as the tokenizer.* metadata llama.cpp loads, filled as convert_hf_to_gguf.py fills it for a byte-level BPE
// ("gpt2") vocabulary. Provides set_gguf_tokenizer.
#pragma once
#include <string>

#include "core/gguf_writer.h"
#include "core/model_config.h"

namespace lp {

// tokenizer.ggml.{model, pre, tokens, token_type, merges, bos/eos/padding_token_id, add_bos_token,
// add_eos_token} and tokenizer.chat_template from the files in model_dir, padded to c.vocab_size. Byte-level
// BPE only (Llama 3, Qwen2, SmolLM2, GPT-2 and the repo's tiny model); any other tokenizer is an error naming
// the file and what it holds. A .gguf base (model_dir is the file) gives its own tokenizer.* metadata.
void set_gguf_tokenizer(gguf::Writer& w, const std::string& model_dir, const ModelConfig& c);

}  // namespace lp
