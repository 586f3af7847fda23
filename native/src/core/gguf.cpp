#include "core/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/check.h"
#include "core/gguf_dequant.h"
#include "core/safetensors.h"

namespace lp {

namespace {

constexpr int kMaxDims = 4;  // GGML_MAX_DIMS

// Reads little-endian values from the mapped bytes; every read past the end throws naming the file,
// the byte offset and what was being read.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, size_t size) : path_(path), data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  const uint8_t* take(size_t n, const std::string& what) {
    LP_CHECK(n <= remaining(), path_ << " is truncated: " << what << " at byte " << pos_ << " needs " << n
                                     << " bytes, but the file has " << remaining() << " left");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T read(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string string(const std::string& what) {
    const auto n = read<uint64_t>(what + " (its length)");
    const uint8_t* p = take(static_cast<size_t>(std::min<uint64_t>(n, SIZE_MAX)), what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

Json read_value(Cursor& c, gguf::ValueType type, const std::string& what, const std::string& path, int depth) {
  using gguf::ValueType;
  switch (type) {
    case ValueType::UINT8:
      return Json(static_cast<int64_t>(c.read<uint8_t>(what)));
    case ValueType::INT8:
      return Json(static_cast<int64_t>(c.read<int8_t>(what)));
    case ValueType::UINT16:
      return Json(static_cast<int64_t>(c.read<uint16_t>(what)));
    case ValueType::INT16:
      return Json(static_cast<int64_t>(c.read<int16_t>(what)));
    case ValueType::UINT32:
      return Json(static_cast<int64_t>(c.read<uint32_t>(what)));
    case ValueType::INT32:
      return Json(static_cast<int64_t>(c.read<int32_t>(what)));
    case ValueType::UINT64: {
      const auto v = c.read<uint64_t>(what);
      LP_CHECK(v <= static_cast<uint64_t>(INT64_MAX),
               path << ": " << what << " is " << v << ", past the largest int64");
      return Json(static_cast<int64_t>(v));
    }
    case ValueType::INT64:
      return Json(c.read<int64_t>(what));
    case ValueType::FLOAT32:
      return Json(static_cast<double>(c.read<float>(what)));
    case ValueType::FLOAT64:
      return Json(c.read<double>(what));
    case ValueType::BOOL: {
      const auto b = c.read<uint8_t>(what);
      LP_CHECK(b <= 1, path << ": " << what << " is a bool stored as " << static_cast<int>(b) << " (expected 0 or 1)");
      return Json(b == 1);
    }
    case ValueType::STRING:
      return Json(c.string(what));
    case ValueType::ARRAY: {
      LP_CHECK(depth < 8, path << ": " << what << " nests arrays deeper than 8 levels");
      const auto elem = static_cast<gguf::ValueType>(c.read<uint32_t>(what + " (its element type)"));
      const auto n = c.read<uint64_t>(what + " (its length)");
      // Every element takes at least one byte: a length past the file's end is a corrupt file, not an allocation.
      LP_CHECK(n <= c.remaining(), path << " is truncated: " << what << " claims " << n
                                        << " elements, but the file has " << c.remaining() << " bytes left");
      Json::Array a;
      a.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i)
        a.push_back(read_value(c, elem, what + "[" + std::to_string(i) + "]", path, depth + 1));
      return Json(std::move(a));
    }
  }
  LP_CHECK(false, path << ": " << what << " has value type " << static_cast<uint32_t>(type)
                       << ", which GGUF does not define (0..12)");
}

}  // namespace

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LP_CHECK(fd >= 0, "cannot open GGUF file " << path << ": " << std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    LP_CHECK(false, "cannot stat " << path << ": " << std::strerror(err));
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ > 0) {
    map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      LP_CHECK(false, "cannot map " << path << ": " << std::strerror(err));
    }
  } else {
    ::close(fd);
  }
  try {
    const auto* bytes = static_cast<const uint8_t*>(map_);
    Cursor c(path_, bytes, map_size_);
    const auto magic = c.read<uint32_t>("the magic");
    char seen[12];
    std::snprintf(seen, sizeof seen, "%02x %02x %02x %02x", bytes[0], bytes[1], bytes[2], bytes[3]);
    LP_CHECK(magic == gguf::kMagic,
             path << " is not a GGUF file: it starts with bytes " << seen << " instead of \"GGUF\" (47 47 55 46)");
    version_ = c.read<uint32_t>("the version");
    LP_CHECK(version_ == 2 || version_ == 3,
             path << " has GGUF version " << version_ << "; loraplane reads versions 2 and 3");
    const auto n_tensors = c.read<uint64_t>("the tensor count");
    const auto n_kv = c.read<uint64_t>("the metadata count");
    LP_CHECK(n_kv <= c.remaining() && n_tensors <= c.remaining(),
             path << " is truncated or corrupt: it claims " << n_tensors << " tensors and " << n_kv
                  << " metadata entries in " << map_size_ << " bytes");

    for (uint64_t i = 0; i < n_kv; ++i) {
      const std::string key = c.string("metadata key " + std::to_string(i));
      LP_CHECK(!metadata_.contains(key), path << ": metadata key \"" << key << "\" appears twice");
      const auto type = static_cast<gguf::ValueType>(c.read<uint32_t>("the type of metadata \"" + key + "\""));
      metadata_.set(key, read_value(c, type, "metadata \"" + key + "\"", path_, 0));
    }

    uint64_t alignment = gguf::kDefaultAlignment;
    if (const Json* a = metadata_.find(gguf::kAlignmentKey)) {
      LP_CHECK(a->is_int() && a->as_int() > 0 && (a->as_int() & (a->as_int() - 1)) == 0,
               path << ": " << gguf::kAlignmentKey << " is " << a->dump() << ", expected a power of two");
      alignment = static_cast<uint64_t>(a->as_int());
    }

    std::vector<uint64_t> offsets;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor t;
      t.name = c.string("the name of tensor " + std::to_string(i));
      const std::string what = "tensor \"" + t.name + "\"";
      LP_CHECK(index_.emplace(t.name, tensors_.size()).second, path << ": " << what << " appears twice");
      const auto n_dims = c.read<uint32_t>("the dimension count of " + what);
      LP_CHECK(n_dims >= 1 && n_dims <= kMaxDims,
               path << ": " << what << " has " << n_dims << " dimensions (expected 1 to " << kMaxDims << ")");
      std::vector<int64_t> dims(n_dims);
      int64_t numel = 1;
      for (auto& d : dims) {
        const auto v = c.read<uint64_t>("the dimensions of " + what);
        LP_CHECK(v > 0 && v < (uint64_t{1} << 40) && numel <= (int64_t{1} << 50) / static_cast<int64_t>(v),
                 path << ": " << what << " has a dimension of " << v << " (corrupt)");
        d = static_cast<int64_t>(v);
        numel *= d;
      }
      t.shape.assign(dims.rbegin(), dims.rend());
      const auto type_num = c.read<uint32_t>("the type of " + what);
      t.type = static_cast<gguf::TensorType>(type_num);
      const gguf::BlockLayout bl = gguf::block_layout(t.type);
      LP_CHECK(bl.elements > 0, path << ": " << what << " has tensor type " << type_num << " ("
                                     << gguf::type_name(t.type)
                                     << "), which loraplane cannot read (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, "
                                        "Q5_K, Q6_K)");
      LP_CHECK(dims[0] % bl.elements == 0, path << ": " << what << " is " << gguf::type_name(t.type) << " with rows of "
                                                << dims[0] << " values, not a whole number of " << bl.elements
                                                << "-value blocks");
      t.nbytes = static_cast<size_t>(numel / bl.elements * bl.bytes);
      const auto offset = c.read<uint64_t>("the offset of " + what);
      LP_CHECK(offset % alignment == 0,
               path << ": " << what << " starts at data offset " << offset << ", not a multiple of " << alignment);
      offsets.push_back(offset);
      tensors_.push_back(std::move(t));
    }

    const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      GgufTensor& t = tensors_[i];
      LP_CHECK(offsets[i] <= map_size_ && t.nbytes <= map_size_ && data_start + offsets[i] <= map_size_ - t.nbytes,
               path << " is truncated: tensor \"" << t.name << "\" (" << t.nbytes << " bytes at data offset "
                    << offsets[i] << ") ends past the end of the file (" << map_size_ << " bytes, data from byte "
                    << data_start << ")");
      t.data = bytes + data_start + offsets[i];
    }
  } catch (...) {
    if (map_) ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, map_size_);
}

const Json& GgufFile::get_metadata(std::string_view key) const {
  const Json* v = find_metadata(key);
  LP_CHECK(v, path_ << " has no metadata \"" << key << "\"");
  return *v;
}

const GgufTensor* GgufFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::get(std::string_view name) const {
  if (const GgufTensor* t = find(name)) return *t;
  std::vector<std::string> names;
  for (const auto& t : tensors_) names.push_back(t.name);
  std::ostringstream os;
  os << "tensor \"" << name << "\" not found in " << path_ << " (" << names.size() << " tensors)";
  const auto close = close_names(name, names);
  for (size_t i = 0; i < close.size(); ++i) os << (i ? ", " : "; closest names: ") << close[i];
  LP_CHECK(false, os.str());
}

void GgufFile::to_float32(const GgufTensor& t, float* out) const {
  LP_CHECK(gguf::can_dequantize(t.type), path_ << ": tensor \"" << t.name << "\" is " << gguf::type_name(t.type)
                                               << ", which loraplane cannot dequantize (F32, F16, BF16, Q8_0, "
                                                  "Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)");
  gguf::dequantize(t.type, t.data, t.numel(), out);
}

std::vector<float> GgufFile::to_float32(const GgufTensor& t) const {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  to_float32(t, out.data());
  return out;
}

}  // namespace lp
