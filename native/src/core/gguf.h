// A read-only, memory-mapped GGUF file (llama.cpp's format, versions 2 and 3): its metadata as JSON values,
// its tensor infos, and each tensor's data dequantized to fp32 (core/gguf_dequant.h). Every error names
// the file and what is wrong in it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/gguf_format.h"
#include "core/json.h"

namespace lp {

struct GgufTensor {
  std::string name;
  gguf::TensorType type = gguf::TensorType::F32;
  std::vector<int64_t> shape;  // row-major (outermost first): GGUF's dims reversed, as the HF weight is laid out
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps the file and validates all of it before returning: magic, version, every metadata value and
  // tensor info inside the file, known tensor types, rows a whole number of blocks, offsets aligned and
  // tensor data inside the file.
  explicit GgufFile(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  // Metadata as one JSON object in file order: integers as Int, floats as Double, bools, strings, and
  // arrays (of arrays) of these.
  const Json& metadata() const { return metadata_; }
  const Json* find_metadata(std::string_view key) const { return metadata_.find(key); }
  // The value of `key`; throws naming the file and the key when absent.
  const Json& get_metadata(std::string_view key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // in file order
  const GgufTensor* find(std::string_view name) const;                 // nullptr when absent
  const GgufTensor& get(std::string_view name) const;  // throws naming the tensor, the file, close names

  // The tensor's values in fp32 (row-major, numel() floats), dequantized as llama.cpp does.
  std::vector<float> to_float32(const GgufTensor& t) const;
  void to_float32(const GgufTensor& t, float* out) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint32_t version_ = 0;
  Json metadata_ = Json::object();
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace lp
