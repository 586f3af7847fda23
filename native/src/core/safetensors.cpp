#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "core/check.h"
#include "core/json.h"

namespace lp {

namespace {

struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},
    {DType::F32, "F32", 4},   {DType::F64, "F64", 8},   {DType::I64, "I64", 8},
};

constexpr size_t kMaxHeader = 100'000'000;  // the Python library's own limit

template <class T>
void convert(const uint8_t* src, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));  // tensors in third-party files may be unaligned
    out[i] = static_cast<float>(v);
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string missing_message(std::string_view name, const std::string& where, const std::vector<std::string>& names) {
  std::ostringstream os;
  os << "tensor \"" << name << "\" not found in " << where << " (" << names.size() << " tensors)";
  auto close = close_names(name, names);
  if (!close.empty()) os << "; closest names: " << join(close);
  return os.str();
}

}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else {
    float f = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal, exact
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

const char* dtype_name(DType t) { return kDTypes[static_cast<int>(t)].name; }
size_t dtype_size(DType t) { return kDTypes[static_cast<int>(t)].size; }

DType parse_dtype(std::string_view name, std::string_view context) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.t;
  LP_CHECK(false, context << ": unsupported dtype \"" << name
                          << "\" (loraplane reads BOOL, U8, I8, F16, BF16, I32, F32, F64, I64)");
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void to_float32(const TensorView& t, float* out) {
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, t.data, static_cast<size_t>(n) * 4);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        uint32_t bits = static_cast<uint32_t>(h) << 16;  // bf16 is the top half of an fp32
        std::memcpy(out + i, &bits, 4);
      }
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    case DType::F64:
      convert<double>(t.data, n, out);
      return;
    case DType::I64:
      convert<int64_t>(t.data, n, out);
      return;
    case DType::I32:
      convert<int32_t>(t.data, n, out);
      return;
    case DType::I8:
      convert<int8_t>(t.data, n, out);
      return;
    case DType::U8:
      convert<uint8_t>(t.data, n, out);
      return;
    case DType::BOOL:
      for (int64_t i = 0; i < n; ++i) out[i] = t.data[i] ? 1.0f : 0.0f;
      return;
  }
}

std::vector<float> to_float32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  to_float32(t, out.data());
  return out;
}

void check_tensor(const TensorView& t, DType dtype, const std::vector<int64_t>& shape, std::string_view where) {
  LP_CHECK(t.dtype == dtype && t.shape == shape,
           where << (where.empty() ? "" : ": ") << "tensor \"" << t.name << "\" is " << dtype_name(t.dtype) << " "
                 << shape_str(t.shape) << ", expected " << dtype_name(dtype) << " " << shape_str(shape));
}

std::vector<std::string> close_names(std::string_view name, const std::vector<std::string>& candidates, size_t max) {
  std::vector<std::pair<size_t, const std::string*>> scored;
  scored.reserve(candidates.size());
  for (const auto& c : candidates) scored.emplace_back(edit_distance(name, c), &c);
  size_t k = std::min(max, scored.size());
  std::partial_sort(
      scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
      [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : *a.second < *b.second; });
  std::vector<std::string> out;
  for (size_t i = 0; i < k; ++i) out.push_back(*scored[i].second);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LP_CHECK(fd >= 0, "cannot open safetensors file " << path << ": " << std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    LP_CHECK(false, "cannot stat " << path << ": " << std::strerror(err));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    LP_CHECK(false,
             path << " is truncated: " << size << " bytes, but a safetensors file starts with an 8-byte header length");
  }
  map_ = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  LP_CHECK(map_ != MAP_FAILED, "cannot mmap " << path << ": " << std::strerror(err));
  map_size_ = size;

  try {
    const auto* base = static_cast<const uint8_t*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
    LP_CHECK(n <= kMaxHeader, path << ": header length " << n << " exceeds the 100 MB limit (not a safetensors file?)");
    LP_CHECK(8 + n <= size, path << ": header length " << n << " runs past the end of the file (" << size
                                 << " bytes): truncated or not a safetensors file");
    Json header = Json::parse(std::string_view(reinterpret_cast<const char*>(base + 8), n), path + " header");
    LP_CHECK(header.is_object(), path << ": header is a JSON " << header.type_name() << ", expected an object");

    const uint8_t* data = base + 8 + n;
    const size_t data_size = size - 8 - n;
    std::vector<std::pair<std::pair<uint64_t, uint64_t>, TensorView>> entries;
    for (const auto& [key, val] : header.items()) {
      if (key == "__metadata__") {
        LP_CHECK(val.is_object(),
                 path << ": __metadata__ is a JSON " << val.type_name() << ", expected an object of strings");
        for (const auto& [mk, mv] : val.items()) {
          LP_CHECK(mv.is_string(), path << ": __metadata__ value of \"" << mk << "\" is a JSON " << mv.type_name()
                                        << ", expected a string");
          metadata_[mk] = mv.as_string();
        }
        continue;
      }
      const std::string ctx = path + " tensor \"" + key + "\"";
      LP_CHECK(val.is_object() && val.contains("dtype") && val.contains("shape") && val.contains("data_offsets"),
               ctx << ": header entry must be an object with dtype, shape, data_offsets");
      TensorView t;
      t.name = key;
      LP_CHECK(val.at("dtype").is_string(), ctx << ": dtype is not a string");
      t.dtype = parse_dtype(val.at("dtype").as_string(), ctx);
      LP_CHECK(val.at("shape").is_array(), ctx << ": shape is not an array");
      for (const Json& d : val.at("shape").as_array()) {
        LP_CHECK(d.is_int() && d.as_int() >= 0, ctx << ": shape entries must be non-negative integers");
        t.shape.push_back(d.as_int());
      }
      const Json& off = val.at("data_offsets");
      LP_CHECK(off.is_array() && off.size() == 2 && off[0].is_int() && off[1].is_int() && off[0].as_int() >= 0 &&
                   off[1].as_int() >= off[0].as_int(),
               ctx << ": data_offsets must be [begin, end] with 0 <= begin <= end");
      entries.push_back(
          {{static_cast<uint64_t>(off[0].as_int()), static_cast<uint64_t>(off[1].as_int())}, std::move(t)});
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    uint64_t expect = 0;
    for (auto& [range, t] : entries) {
      LP_CHECK(range.first == expect, path << ": tensor \"" << t.name << "\" data_offsets [" << range.first << ", "
                                           << range.second << "] leave a gap or overlap (expected begin " << expect
                                           << ")");
      // Overflow-safe element count: any real tensor fits well below 2^62 bytes.
      uint64_t elems = 1;
      for (int64_t d : t.shape) {
        LP_CHECK(d == 0 || elems <= (uint64_t{1} << 62) / static_cast<uint64_t>(d),
                 path << ": tensor \"" << t.name << "\" shape overflows");
        elems *= static_cast<uint64_t>(d);
      }
      const uint64_t nbytes = range.second - range.first;
      LP_CHECK(nbytes == elems * dtype_size(t.dtype),
               path << ": tensor \"" << t.name << "\" is " << dtype_name(t.dtype) << " " << shape_str(t.shape) << " ("
                    << elems * dtype_size(t.dtype) << " bytes) but data_offsets span " << nbytes << " bytes");
      LP_CHECK(range.second <= data_size, path << " is truncated: tensor \"" << t.name << "\" ends at data byte "
                                               << range.second << " but the file holds " << data_size << " data bytes");
      t.data = data + range.first;
      t.nbytes = nbytes;
      expect = range.second;
    }
    LP_CHECK(expect == data_size, path << ": " << data_size - expect << " bytes after the last tensor (header covers "
                                       << expect << " of " << data_size << " data bytes)");
    for (auto& e : entries) {
      index_.emplace(e.second.name, tensors_.size());
      tensors_.push_back(std::move(e.second));
    }
  } catch (...) {
    ::munmap(map_, map_size_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ && map_ != MAP_FAILED) ::munmap(map_, map_size_);
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::get(std::string_view name) const {
  const TensorView* t = find(name);
  if (!t) LP_CHECK(false, missing_message(name, path_, names()));
  return *t;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsDir

SafetensorsDir::SafetensorsDir(const std::string& dir) : dir_(dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  struct stat st {};
  if (::stat(index_path.c_str(), &st) == 0) {
    Json index = read_json_file(index_path);
    const Json* wm = index.find("weight_map");
    LP_CHECK(wm && wm->is_object(), index_path << ": missing object \"weight_map\"");
    std::map<std::string, SafetensorsFile*> by_file;
    for (const auto& [name, file] : wm->items()) {
      LP_CHECK(file.is_string(), index_path << ": weight_map[\"" << name << "\"] is not a string");
      auto it = by_file.find(file.as_string());
      if (it == by_file.end()) {
        shards_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + file.as_string()));
        it = by_file.emplace(file.as_string(), shards_.back().get()).first;
      }
      const TensorView* t = it->second->find(name);
      LP_CHECK(t, index_path << " maps \"" << name << "\" to " << file.as_string() << ", which does not hold it");
      index_[name] = t;
    }
  } else {
    LP_CHECK(::stat(single_path.c_str(), &st) == 0, "no model.safetensors or model.safetensors.index.json in " << dir);
    shards_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const auto& t : shards_.back()->tensors()) index_[t.name] = &t;
  }
}

const TensorView* SafetensorsDir::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& SafetensorsDir::get(std::string_view name) const {
  const TensorView* t = find(name);
  if (!t) LP_CHECK(false, missing_message(name, dir_, names()));
  return *t;
}

std::vector<std::string> SafetensorsDir::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorView*> order;
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    LP_CHECK(seen.insert(t.name).second,
             "write_safetensors " << path << ": duplicate tensor name \"" << t.name << "\"");
    LP_CHECK(t.nbytes == static_cast<size_t>(t.numel()) * dtype_size(t.dtype),
             "write_safetensors " << path << ": tensor \"" << t.name << "\" is " << dtype_name(t.dtype) << " "
                                  << shape_str(t.shape) << " but holds " << t.nbytes << " bytes");
    LP_CHECK(t.data || t.nbytes == 0, "write_safetensors " << path << ": tensor \"" << t.name << "\" has no data");
    order.push_back(&t);
  }
  // As the Rust library: larger dtypes first (keeps every tensor aligned), then by name.
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) {
    return a->dtype != b->dtype ? a->dtype > b->dtype : a->name < b->name;
  });

  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m.set(k, v);
    header.set("__metadata__", std::move(m));
  }
  size_t offset = 0;
  for (const TensorView* t : order) {
    Json e = Json::object();
    e.set("dtype", dtype_name(t->dtype));
    Json shape = Json::array();
    for (int64_t d : t->shape) shape.push_back(d);
    e.set("shape", std::move(shape));
    e.set("data_offsets",
          Json(Json::Array{Json(static_cast<uint64_t>(offset)), Json(static_cast<uint64_t>(offset + t->nbytes))}));
    offset += t->nbytes;
    header.set(t->name, std::move(e));
  }
  std::string hjson = header.dump();
  hjson.append((8 - hjson.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  LP_CHECK(f, "cannot create " << tmp << ": " << std::strerror(errno));
  uint8_t len[8];
  uint64_t n = hjson.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(hjson.data(), 1, hjson.size(), f) == hjson.size();
  for (const TensorView* t : order) ok = ok && (t->nbytes == 0 || std::fwrite(t->data, 1, t->nbytes, f) == t->nbytes);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    LP_CHECK(false, "write_safetensors: writing " << tmp << " failed: " << std::strerror(errno));
  }
  LP_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
           "cannot rename " << tmp << " to " << path << ": " << std::strerror(errno));
}

void release_pages(const TensorView& t) {
  if (t.nbytes == 0) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;  // whole pages only:
  const auto end = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) / page * page;    // neighbours keep theirs
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace lp
