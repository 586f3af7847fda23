// core/gguf_writer.cpp: GGUF v3 serialization (see gguf_writer.h, gguf_format.h).
#include "core/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/check.h"
#include "core/gguf_format.h"

namespace lp::gguf {

namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only, as ggml itself
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

void put_type(std::string& out, ValueType t) { put<uint32_t>(out, static_cast<uint32_t>(t)); }

uint64_t padded(uint64_t n) { return (n + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment; }

}  // namespace

Writer::Writer() { set_u32(kAlignmentKey, kDefaultAlignment); }

void Writer::set_string(const std::string& key, const std::string& value) {
  std::string v;
  put_type(v, ValueType::STRING);
  put_string(v, value);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_u32(const std::string& key, uint32_t value) {
  std::string v;
  put_type(v, ValueType::UINT32);
  put(v, value);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_f32(const std::string& key, float value) {
  std::string v;
  put_type(v, ValueType::FLOAT32);
  put(v, value);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_bool(const std::string& key, bool value) {
  std::string v;
  put_type(v, ValueType::BOOL);
  put<uint8_t>(v, value ? 1 : 0);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_strings(const std::string& key, const std::vector<std::string>& values) {
  std::string v;
  put_type(v, ValueType::ARRAY);
  put_type(v, ValueType::STRING);
  put<uint64_t>(v, values.size());
  for (const std::string& s : values) put_string(v, s);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_i32s(const std::string& key, const std::vector<int32_t>& values) {
  std::string v;
  put_type(v, ValueType::ARRAY);
  put_type(v, ValueType::INT32);
  put<uint64_t>(v, values.size());
  for (int32_t x : values) put(v, x);
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_f32s(const std::string& key, const std::vector<float>& values) {
  std::string v;
  put_type(v, ValueType::ARRAY);
  put_type(v, ValueType::FLOAT32);
  put<uint64_t>(v, values.size());
  for (float x : values) put(v, x);
  kv_.emplace_back(key, std::move(v));
}

void Writer::add_tensor(const std::string& name, const std::vector<int64_t>& shape, Fill fill) {
  LP_CHECK(!shape.empty() && shape.size() <= 4, "GGUF tensor \"" << name << "\" needs 1 to 4 dimensions");
  for (int64_t d : shape) LP_CHECK(d > 0, "GGUF tensor \"" << name << "\" has an empty dimension");
  tensors_.push_back({name, shape, std::move(fill)});
}

void Writer::write(const std::string& path) const {
  std::set<std::string> names;
  for (const auto& [k, v] : kv_) LP_CHECK(names.insert("kv:" + k).second, "GGUF key \"" << k << "\" set twice");
  for (const Tensor& t : tensors_)
    LP_CHECK(names.insert("t:" + t.name).second, "GGUF tensor \"" << t.name << "\" added twice");

  std::string head;
  put<uint32_t>(head, kMagic);
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_string(head, k);
    head.append(v);
  }
  std::vector<uint64_t> elements;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    uint64_t n = 1;
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) {  // ggml's ne[]: innermost first
      put<uint64_t>(head, static_cast<uint64_t>(*d));
      n *= static_cast<uint64_t>(*d);
    }
    put<uint32_t>(head, static_cast<uint32_t>(TensorType::F32));
    put<uint64_t>(head, offset);
    elements.push_back(n);
    offset = padded(offset + n * sizeof(float));
  }
  head.resize(padded(head.size()), '\0');

  const std::string tmp = path + ".tmp";
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    LP_CHECK(f.good(), "cannot open " << tmp << " for writing");
    f.write(head.data(), static_cast<std::streamsize>(head.size()));
    std::vector<float> data;
    const char zeros[kDefaultAlignment] = {};
    for (size_t i = 0; i < tensors_.size(); ++i) {
      data.clear();
      tensors_[i].fill(data);
      LP_CHECK(data.size() == elements[i], "GGUF tensor \"" << tensors_[i].name << "\" got " << data.size()
                                                            << " values for " << elements[i] << " elements");
      const uint64_t bytes = elements[i] * sizeof(float);
      f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(bytes));
      f.write(zeros, static_cast<std::streamsize>(padded(bytes) - bytes));
    }
    f.flush();
    LP_CHECK(f.good(), "cannot write " << tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  LP_CHECK(!ec, "cannot rename " << tmp << " to " << path << ": " << ec.message());
}

}  // namespace lp::gguf
