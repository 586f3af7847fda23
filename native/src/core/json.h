// JSON for the files the runtime reads and writes (config.json, safetensors headers, adapter_config.json,
// bitsandbytes quant_state blobs): a value type, a parser whose errors name the byte offset, and a
// serializer that can reproduce Python's json.dumps(indent=2, sort_keys=True) and serde_json's compact form.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lp {

class Json {
 public:
  enum class Type { Null, Bool, Int, Double, String, Array, Object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // insertion order, keys unique

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::Bool), bool_(b) {}
  Json(int v) : type_(Type::Int), int_(v) {}
  Json(int64_t v) : type_(Type::Int), int_(v) {}
  Json(uint64_t v);  // checked: must fit in int64
  Json(double v) : type_(Type::Double), double_(v) {}
  Json(const char* s) : type_(Type::String), str_(s) {}
  Json(std::string s) : type_(Type::String), str_(std::move(s)) {}
  Json(Array a) : type_(Type::Array), arr_(std::move(a)) {}
  static Json object() {
    Json j;
    j.type_ = Type::Object;
    return j;
  }
  static Json array() { return Json(Array{}); }

  Type type() const { return type_; }
  const char* type_name() const;
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Double; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; a wrong type throws lp::Error naming the expected and actual type.
  bool as_bool() const;
  int64_t as_int() const;    // Int only (3.0 is not an int, as in Python)
  double as_double() const;  // Int or Double
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& items() const;

  // Arrays and objects.
  size_t size() const;
  const Json& operator[](size_t i) const;
  void push_back(Json v);
  const Json* find(std::string_view key) const;  // nullptr when absent (or not an object)
  const Json& at(std::string_view key) const;    // throws naming the key when absent
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  Json& set(std::string_view key, Json v);  // replaces in place or appends

  bool operator==(const Json& o) const;
  bool operator!=(const Json& o) const { return !(*this == o); }

  struct DumpOptions {
    int indent = -1;            // < 0: one line; >= 0: newline + indent per level (Python's indent=)
    bool sort_keys = false;     // Python's sort_keys=True (code-point order)
    bool spaces = false;        // one-line only: ", " and ": " as Python; false: "," and ":" as serde_json
    bool ensure_ascii = false;  // Python's default: non-ASCII as \uXXXX (surrogate pairs above U+FFFF)
  };
  std::string dump(const DumpOptions& opt) const;
  std::string dump() const { return dump(DumpOptions{}); }  // compact, as serde_json writes it
  // Python json.dumps(v): one line with ", " and ": " (bitsandbytes' quant_state blobs).
  std::string dump_python() const { return dump(DumpOptions{-1, false, true, true}); }
  // Python json.dumps(v, indent=2, sort_keys=True): what PEFT writes for adapter_config.json.
  std::string dump_python_pretty() const { return dump(DumpOptions{2, true, false, true}); }

  // Parses one JSON value (RFC 8259 plus Python's NaN/Infinity/-Infinity); trailing whitespace only.
  // Errors name the byte offset and what was expected. `what` prefixes the message (e.g. a path).
  static Json parse(std::string_view text, std::string_view what = "JSON");

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0.0;
  std::string str_;
  Array arr_;
  Object obj_;
};

// Reads a whole file and parses it; errors name the path.
Json read_json_file(const std::string& path);

// Python's repr(float): the shortest round-trip digits, exponent form below 1e-4 or from 1e16.
std::string format_double_python(double v);

}  // namespace lp
