// core/gguf_writer.h: a GGUF v3 file writer (layout in gguf_format.h). Provides gguf::Writer: typed metadata
// and F32 tensors whose data is produced only when the file is written, so a merged model is never held
// whole in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lp::gguf {

class Writer {
 public:
  // Declares general.alignment itself: the padding between tensors is the Writer's.
  Writer();

  void set_string(const std::string& key, const std::string& value);
  void set_u32(const std::string& key, uint32_t value);
  void set_f32(const std::string& key, float value);
  void set_bool(const std::string& key, bool value);
  void set_strings(const std::string& key, const std::vector<std::string>& values);
  void set_i32s(const std::string& key, const std::vector<int32_t>& values);
  void set_f32s(const std::string& key, const std::vector<float>& values);

  // An F32 tensor; shape outermost first as PyTorch writes it ((out, in) for a weight), stored innermost first
  // as ggml does. fill resizes and writes the shape's elements when the file is written.
  using Fill = std::function<void(std::vector<float>&)>;
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, Fill fill);

  // Writes the file through a temporary beside it and renames it into place: a failure leaves no file at path.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    Fill fill;
  };
  std::vector<std::pair<std::string, std::string>> kv_;  // key, encoded type + value
  std::vector<Tensor> tensors_;
};

}  // namespace lp::gguf
