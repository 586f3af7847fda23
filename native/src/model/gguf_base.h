// A base model in a GGUF file (llama.cpp's names and metadata) seen as a Hugging Face model: the
// config.json that transformers would write for it, and each tensor by its HF name in HF's layout (the
// Q and K rows that llama.cpp's convert_hf_to_gguf.py permuted for its RoPE put back; fp32).
// Architectures: general.architecture "llama" (Llama and Mistral GGUFs), "qwen2" and "qwen3".
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/gguf.h"
#include "core/json.h"

namespace lp {

class GgufBase {
 public:
  // Opens and checks the file: a supported architecture, its hyperparameters, and every tensor one the
  // architecture has (anything else, e.g. rope_freqs or FFN biases, is an error naming it).
  explicit GgufBase(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const GgufFile& file() const { return file_; }
  // The HF config.json equivalent (architectures, sizes, rope_theta, token ids, tie_word_embeddings,
  // dtype float32: weights are dequantized to fp32).
  const Json& hf_config() const { return config_; }

  bool contains(std::string_view hf_name) const { return find(hf_name) != nullptr; }
  // The tensor's row-major shape; throws naming the HF and GGUF names when absent.
  const std::vector<int64_t>& shape(std::string_view hf_name) const;
  // The tensor in fp32, HF layout (out must hold its numel values); the file's pages are released after.
  void read(std::string_view hf_name, float* out) const;

 private:
  struct Entry {
    const GgufTensor* tensor;
    int64_t permuted_heads;  // > 0: rows permuted for llama.cpp's RoPE over this many heads
  };
  const Entry* find(std::string_view hf_name) const;

  GgufFile file_;
  Json config_;
  std::unordered_map<std::string, Entry> by_hf_name_;
};

}  // namespace lp
