// .safetensors I/O: DType, a zero-copy TensorView, a read-only memory-mapped SafetensorsFile, a
// SafetensorsDir over an HF model folder (single file or sharded with model.safetensors.index.json),
// conversion to float32, and write_safetensors producing the byte layout of Python's safetensors.
//
// File layout: u64 little-endian header length N | N bytes of JSON header, padded with spaces to a
// multiple of 8 | tensor bytes, row-major, little-endian, contiguous in data_offsets order.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lp {

// Declared in the order of safetensors' Rust `Dtype` enum: the writer sorts tensors by it, descending.
enum class DType { BOOL, U8, I8, F16, BF16, I32, F32, F64, I64 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);
// Parses "F32", "BF16", ...; an unknown name throws, naming `context` (file and tensor).
DType parse_dtype(std::string_view name, std::string_view context);

// A tensor's description and bytes, owned elsewhere (a mapped file, or the caller's buffer when writing).
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[64, 80]", for messages

// One IEEE fp16 value as fp32, exactly (every fp16 value, subnormals, inf and NaN payloads included, is an fp32).
float half_to_float(uint16_t h);

// Element-wise conversion to float32: bf16/fp16 exactly, f64 rounded to nearest, integers and bool by value.
void to_float32(const TensorView& t, float* out);  // out: numel() floats
std::vector<float> to_float32(const TensorView& t);

// Throws unless t has this dtype and shape, naming `where` (its file), the tensor and what it holds instead.
void check_tensor(const TensorView& t, DType dtype, const std::vector<int64_t>& shape, std::string_view where = {});

// Drops the pages of a memory-mapped tensor from this process's resident set (they stay in the page
// cache). Loaders call it once a tensor is converted, so peak memory stays near the converted size
// instead of growing to the whole file.
void release_pages(const TensorView& t);

class SafetensorsFile {
 public:
  // Maps the file read-only and validates the header: offsets contiguous from 0, sizes equal to
  // numel * dtype size, data ending exactly at the end of the file.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const TensorView* find(std::string_view name) const;  // nullptr when absent
  const TensorView& get(std::string_view name) const;   // throws naming the tensor, the file, close names
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;                                           // sorted
  const std::vector<TensorView>& tensors() const { return tensors_; }               // in data_offsets order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// An HF model folder: model.safetensors.index.json (weight_map: tensor -> shard file) when present,
// else model.safetensors.
class SafetensorsDir {
 public:
  explicit SafetensorsDir(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const TensorView* find(std::string_view name) const;
  const TensorView& get(std::string_view name) const;  // throws naming the tensor, the folder, close names
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;  // sorted, across shards
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::unordered_map<std::string, const TensorView*> index_;
};

// Writes tensors in the exact layout of Python's safetensors (sorted by dtype descending, then name;
// compact JSON header with "__metadata__" first, padded with spaces to 8 bytes). Written to a
// temporary file and renamed, so a crash never leaves a partial file at `path`.
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Up to `max` names closest to `name` (edit distance), for "did you mean" messages.
std::vector<std::string> close_names(std::string_view name, const std::vector<std::string>& candidates, size_t max = 3);

}  // namespace lp
