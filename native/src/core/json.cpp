#include "core/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/check.h"

namespace lp {

Json::Json(uint64_t v) : type_(Type::Int), int_(static_cast<int64_t>(v)) {
  LP_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
           "JSON integer " << v << " does not fit in int64");
}

const char* Json::type_name() const {
  switch (type_) {
    case Type::Null:
      return "null";
    case Type::Bool:
      return "bool";
    case Type::Int:
      return "int";
    case Type::Double:
      return "float";
    case Type::String:
      return "string";
    case Type::Array:
      return "array";
    case Type::Object:
      return "object";
  }
  return "?";
}

bool Json::as_bool() const {
  LP_CHECK(type_ == Type::Bool, "expected a JSON bool, got " << type_name());
  return bool_;
}
int64_t Json::as_int() const {
  LP_CHECK(type_ == Type::Int, "expected a JSON integer, got " << type_name());
  return int_;
}
double Json::as_double() const {
  LP_CHECK(is_number(), "expected a JSON number, got " << type_name());
  return type_ == Type::Int ? static_cast<double>(int_) : double_;
}
const std::string& Json::as_string() const {
  LP_CHECK(type_ == Type::String, "expected a JSON string, got " << type_name());
  return str_;
}
const Json::Array& Json::as_array() const {
  LP_CHECK(type_ == Type::Array, "expected a JSON array, got " << type_name());
  return arr_;
}
Json::Array& Json::as_array() {
  LP_CHECK(type_ == Type::Array, "expected a JSON array, got " << type_name());
  return arr_;
}
const Json::Object& Json::items() const {
  LP_CHECK(type_ == Type::Object, "expected a JSON object, got " << type_name());
  return obj_;
}

size_t Json::size() const {
  if (type_ == Type::Array) return arr_.size();
  if (type_ == Type::Object) return obj_.size();
  LP_CHECK(false, "size() of a JSON " << type_name());
}
const Json& Json::operator[](size_t i) const {
  const Array& a = as_array();
  LP_CHECK(i < a.size(), "JSON array index " << i << " out of range (size " << a.size() << ")");
  return a[i];
}
void Json::push_back(Json v) { as_array().push_back(std::move(v)); }

const Json* Json::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& kv : obj_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
const Json& Json::at(std::string_view key) const {
  LP_CHECK(type_ == Type::Object, "expected a JSON object holding key \"" << key << "\", got " << type_name());
  const Json* v = find(key);
  LP_CHECK(v != nullptr, "missing JSON key \"" << key << "\"");
  return *v;
}
Json& Json::set(std::string_view key, Json v) {
  LP_CHECK(type_ == Type::Object, "cannot set key \"" << key << "\" on a JSON " << type_name());
  for (auto& kv : obj_)
    if (kv.first == key) return kv.second = std::move(v);
  obj_.emplace_back(std::string(key), std::move(v));
  return obj_.back().second;
}

bool Json::operator==(const Json& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::Null:
      return true;
    case Type::Bool:
      return bool_ == o.bool_;
    case Type::Int:
      return int_ == o.int_;
    case Type::Double:
      return double_ == o.double_ || (std::isnan(double_) && std::isnan(o.double_));
    case Type::String:
      return str_ == o.str_;
    case Type::Array:
      return arr_ == o.arr_;
    case Type::Object: {  // order-insensitive, like Python's dict equality
      if (obj_.size() != o.obj_.size()) return false;
      for (const auto& kv : obj_) {
        const Json* other = o.find(kv.first);
        if (!other || *other != kv.second) return false;
      }
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Serializer

std::string format_double_python(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, e.g. "1.2345e-05", then laid out as Python's repr.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  int exp10 = std::stoi(sci.substr(epos + 1));
  std::string digits = sci.substr(0, epos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = neg ? "-" : "";
  if (exp10 < -4 || exp10 >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += e;
  } else if (exp10 < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  } else {
    size_t int_len = static_cast<size_t>(exp10) + 1;
    if (digits.size() <= int_len) {
      out += digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return out;
}

namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i.
uint32_t decode_utf8(const std::string& s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  LP_CHECK(len > 0 && i + len <= s.size(),
           "invalid UTF-8 byte 0x" << std::hex << int(c) << " in JSON string at index " << std::dec << i);
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    unsigned char cc = byte(i + k);
    LP_CHECK((cc >> 6) == 0x2, "invalid UTF-8 continuation byte in JSON string at index " << i + k);
    cp = (cp << 6) | (cc & 0x3F);
  }
  i += len;
  return cp;
}

void append_u_escape(std::string& out, uint32_t unit) {
  char b[16];
  std::snprintf(b, sizeof b, "\\u%04x", unit);
  out += b;
}

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
      append_u_escape(out, c);
      ++i;
    } else if (c < 0x80 || !ensure_ascii) {
      out += static_cast<char>(c);
      ++i;
    } else {
      uint32_t cp = decode_utf8(s, i);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        append_u_escape(out, 0xD800 + (cp >> 10));
        append_u_escape(out, 0xDC00 + (cp & 0x3FF));
      } else {
        append_u_escape(out, cp);
      }
    }
  }
  out += '"';
}

void dump_value(std::string& out, const Json& v, const Json::DumpOptions& opt, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(opt.indent) * d, ' ');
  };
  const char* item_sep = opt.indent >= 0 ? "," : (opt.spaces ? ", " : ",");
  const char* key_sep = (opt.indent >= 0 || opt.spaces) ? ": " : ":";
  switch (v.type()) {
    case Json::Type::Null:
      out += "null";
      return;
    case Json::Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Json::Type::Int:
      out += std::to_string(v.as_int());
      return;
    case Json::Type::Double:
      out += format_double_python(v.as_double());
      return;
    case Json::Type::String:
      dump_string(out, v.as_string(), opt.ensure_ascii);
      return;
    case Json::Type::Array: {
      const auto& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += item_sep;
        if (opt.indent >= 0) newline(depth + 1);
        dump_value(out, a[i], opt, depth + 1);
      }
      if (opt.indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Json::Type::Object: {
      const auto& o = v.items();
      if (o.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Json>*> order;
      for (const auto& kv : o) order.push_back(&kv);
      if (opt.sort_keys) std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < order.size(); ++i) {
        if (i) out += item_sep;
        if (opt.indent >= 0) newline(depth + 1);
        dump_string(out, order[i]->first, opt.ensure_ascii);
        out += key_sep;
        dump_value(out, order[i]->second, opt, depth + 1);
      }
      if (opt.indent >= 0) newline(depth);
      out += '}';
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
 public:
  Parser(std::string_view text, std::string_view what) : s_(text), what_(what) {}

  Json parse_document() {
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected trailing data");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 512;  // bounds recursion on hostile input

  [[noreturn]] void fail(const std::string& msg) const {
    std::ostringstream os;
    os << what_ << ": " << msg << " at byte offset " << pos_;
    if (pos_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c >= 0x20 && c < 0x7F)
        os << " ('" << s_[pos_] << "')";
      else
        os << " (byte 0x" << std::hex << int(c) << ")";
    } else {
      os << " (end of input)";
    }
    LP_CHECK(false, os.str());
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }

  Json parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 512");
    skip_ws();
    if (pos_ >= s_.size()) fail("expected a value");
    char c = s_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Json(parse_string());
    if (consume("true")) return Json(true);
    if (consume("false")) return Json(false);
    if (consume("null")) return Json();
    if (consume("NaN")) return Json(std::numeric_limits<double>::quiet_NaN());
    if (consume("Infinity")) return Json(std::numeric_limits<double>::infinity());
    if (consume("-Infinity")) return Json(-std::numeric_limits<double>::infinity());
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail("expected a value");
  }

  Json parse_object(int depth) {
    ++pos_;  // '{'
    Json obj = Json::object();
    skip_ws();
    if (consume("}")) return obj;
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_ws();
      if (!consume(":")) fail("expected ':' after object key");
      obj.set(key, parse_value(depth + 1));  // a repeated key keeps its first position, last value (Python)
      skip_ws();
      if (consume(",")) continue;
      if (consume("}")) return obj;
      fail("expected ',' or '}' in object");
    }
  }

  Json parse_array(int depth) {
    ++pos_;  // '['
    Json arr = Json::array();
    skip_ws();
    if (consume("]")) return arr;
    for (;;) {
      arr.push_back(parse_value(depth + 1));
      skip_ws();
      if (consume(",")) continue;
      if (consume("]")) return arr;
      fail("expected ',' or ']' in array");
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[pos_];
      int d = (h >= '0' && h <= '9')   ? h - '0'
              : (h >= 'a' && h <= 'f') ? h - 'a' + 10
              : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                       : -1;
      if (d < 0) fail("invalid hex digit in \\u escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            size_t save = pos_;
            pos_ += 2;
            uint32_t lo = parse_hex4();
            if (lo >= 0xDC00 && lo < 0xE000)
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else
              pos_ = save;  // lone high surrogate: kept as is, like Python
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail("invalid escape character");
      }
    }
  }

  Json parse_number() {
    size_t start = pos_;
    bool is_float = false;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&]() {
      size_t d0 = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d0;
    };
    if (pos_ < s_.size() && s_[pos_] == '0')
      ++pos_;
    else if (digits() == 0)
      fail("expected digits in number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      is_float = true;
      if (digits() == 0) fail("expected digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      is_float = true;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("expected digits in exponent");
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (!is_float) {
      int64_t iv = 0;
      auto r = std::from_chars(b, e, iv);
      if (r.ec == std::errc() && r.ptr == e) return Json(iv);
      // Beyond int64: keep the value as a double rather than failing.
    }
    double dv = 0;
    auto r = std::from_chars(b, e, dv);
    if (r.ec == std::errc::result_out_of_range) {
      dv = std::strtod(std::string(b, e).c_str(), nullptr);  // overflow to +-inf, underflow to 0 (Python)
    } else if (r.ec != std::errc() || r.ptr != e) {
      pos_ = start;
      fail("invalid number");
    }
    return Json(dv);
  }

  std::string_view s_;
  std::string_view what_;
  size_t pos_ = 0;
};

}  // namespace

std::string Json::dump(const DumpOptions& opt) const {
  std::string out;
  dump_value(out, *this, opt, 0);
  return out;
}

Json Json::parse(std::string_view text, std::string_view what) { return Parser(text, what).parse_document(); }

Json read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LP_CHECK(f.good(), "cannot open JSON file " << path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str(), path);
}

}  // namespace lp
