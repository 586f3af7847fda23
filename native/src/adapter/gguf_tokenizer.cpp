// adapter/gguf_tokenizer.cpp: tokenizer.json -> GGUF tokenizer metadata (see gguf_tokenizer.h).
#include "adapter/gguf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/check.h"
#include "core/gguf.h"
#include "core/json.h"

namespace lp {

namespace {

// llama_token_type (llama.cpp's vocab.h).
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// The split regexes of the pre-tokenizers llama.cpp knows by name (llama-vocab.cpp), as tokenizer.json holds
// them. convert_hf_to_gguf.py finds the name by hashing the tokenizer's output on a test text; a tokenizer
// built on one of these splits tokenizes as that name does.
constexpr const char* kLlama3Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The pre-tokenizer's name in llama.cpp: a Split with a known regex then ByteLevel(use_regex=false), or
// ByteLevel(use_regex=true) alone (GPT-2), or after Digits(individual_digits) (SmolLM).
std::string pre_tokenizer_name(const Json& tok, const std::string& path) {
  const Json* pre = tok.find("pre_tokenizer");
  LP_CHECK(pre && pre->is_object(), path << ": no pre_tokenizer; the GGUF export needs a byte-level BPE tokenizer");
  std::vector<const Json*> steps;
  if (pre->at("type").as_string() == "Sequence") {
    for (const Json& s : pre->at("pretokenizers").as_array()) steps.push_back(&s);
  } else {
    steps.push_back(pre);
  }
  std::string shape;
  for (const Json* s : steps) {
    const std::string type = s->at("type").as_string();
    if (type == "Split") {
      const Json* regex = s->at("pattern").find("Regex");
      const std::string r = regex && regex->is_string() ? regex->as_string() : "";
      shape += r == kLlama3Split ? "split-llama3 " : r == kQwen2Split ? "split-qwen2 " : "split-other ";
    } else if (type == "ByteLevel") {
      const Json* use_regex = s->find("use_regex");
      shape += use_regex && use_regex->is_bool() && !use_regex->as_bool() ? "bytelevel " : "bytelevel-regex ";
    } else if (type == "Digits") {
      const Json* individual = s->find("individual_digits");
      shape += individual && individual->is_bool() && individual->as_bool() ? "digits " : "digits-grouped ";
    } else {
      shape += type + " ";
    }
  }
  if (shape == "split-llama3 bytelevel ") return "llama-bpe";
  if (shape == "split-qwen2 bytelevel ") return "qwen2";
  if (shape == "bytelevel-regex ") return "gpt-2";
  if (shape == "digits bytelevel-regex ") return "smollm";
  LP_CHECK(false, path << ": pre_tokenizer (" << shape
                       << ") is none llama.cpp names; the GGUF export knows Llama 3's and Qwen2's splits, GPT-2's "
                          "byte-level and SmolLM's digits + byte-level");
  return {};
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LP_CHECK(f.good(), "cannot open " << path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A special token's id from tokenizer_config.json (a string or {"content": ...}), else config.json's id.
int64_t special_id(const Json* cfg, const char* key, int64_t fallback, const std::vector<std::string>& tokens) {
  const Json* v = cfg ? cfg->find(key) : nullptr;
  if (v && v->is_object()) v = v->find("content");
  if (v && v->is_string())
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == v->as_string()) return static_cast<int64_t>(i);
  return fallback;
}

// Whether the post-processor's single-sequence template starts with a special token (adds BOS).
bool template_adds_bos(const Json& tok) {
  const Json* post = tok.find("post_processor");
  if (!post || !post->is_object()) return false;
  std::vector<const Json*> procs;
  if (post->at("type").as_string() == "Sequence") {
    for (const Json& p : post->at("processors").as_array()) procs.push_back(&p);
  } else {
    procs.push_back(post);
  }
  for (const Json* p : procs) {
    if (p->at("type").as_string() != "TemplateProcessing") continue;
    const auto& single = p->at("single").as_array();
    if (single.empty()) return false;
    return single.front().contains("SpecialToken");
  }
  return false;
}

// A GGUF base already holds llama.cpp's tokenizer metadata: copied key by key, each in the type llama.cpp gives
// it (token ids u32, token types i32, scores f32; strings and flags as they are).
void copy_gguf_tokenizer(gguf::Writer& w, const std::string& path) {
  const GgufFile base(path);
  for (const auto& [key, v] : base.metadata().items()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    if (v.is_string()) {
      w.set_string(key, v.as_string());
    } else if (v.is_bool()) {
      w.set_bool(key, v.as_bool());
    } else if (v.is_int()) {
      w.set_u32(key, static_cast<uint32_t>(v.as_int()));
    } else if (v.is_array() && v.size() > 0 && v[0].is_string()) {
      std::vector<std::string> strings;
      for (const Json& e : v.as_array()) strings.push_back(e.as_string());
      w.set_strings(key, strings);
    } else if (v.is_array() && v.size() > 0 && v[0].is_int()) {
      std::vector<int32_t> ints;
      for (const Json& e : v.as_array()) ints.push_back(static_cast<int32_t>(e.as_int()));
      w.set_i32s(key, ints);
    } else if (v.is_array() && v.size() > 0 && v[0].is_number()) {
      std::vector<float> floats;
      for (const Json& e : v.as_array()) floats.push_back(static_cast<float>(e.as_double()));
      w.set_f32s(key, floats);
    } else {
      LP_CHECK(false, path << ": tokenizer metadata \"" << key << "\" is " << v.dump().substr(0, 80)
                           << ", not a value the GGUF export carries over");
    }
  }
}

}  // namespace

void set_gguf_tokenizer(gguf::Writer& w, const std::string& model_dir, const ModelConfig& c) {
  if (std::filesystem::is_regular_file(model_dir)) return copy_gguf_tokenizer(w, model_dir);
  const std::string path = model_dir + "/tokenizer.json";
  LP_CHECK(
      std::filesystem::is_regular_file(path),
      "model dir \"" << model_dir << "\" has no tokenizer.json; the GGUF export needs it for llama.cpp's vocabulary");
  const Json tok = read_json_file(path);
  const Json& model = tok.at("model");
  LP_CHECK(model.at("type").as_string() == "BPE",
           path << ": model type is " << model.at("type").dump() << "; the GGUF export handles byte-level BPE only");
  const Json* fallback = model.find("byte_fallback");
  LP_CHECK(!fallback || !fallback->is_bool() || !fallback->as_bool(),
           path << ": a byte_fallback BPE (SentencePiece-style, as Llama 2's) is not handled by the GGUF export");
  const std::string pre = pre_tokenizer_name(tok, path);

  const size_t n = static_cast<size_t>(c.vocab_size);
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, kUnused);
  auto place = [&](int64_t id, const std::string& text, int32_t type) {
    LP_CHECK(id >= 0 && static_cast<size_t>(id) < n,
             path << ": token " << Json(text).dump() << " has id " << id << ", outside config.json's vocab_size " << n);
    tokens[static_cast<size_t>(id)] = text;
    types[static_cast<size_t>(id)] = type;
  };
  for (const auto& [text, id] : model.at("vocab").items()) place(id.as_int(), text, kNormal);
  if (const Json* added = tok.find("added_tokens"))
    for (const Json& a : added->as_array()) {
      const Json* special = a.find("special");
      place(a.at("id").as_int(), a.at("content").as_string(),
            special && special->is_bool() && special->as_bool() ? kControl : kUserDefined);
    }
  for (size_t i = 0; i < n; ++i)
    if (types[i] == kUnused) tokens[i] = "[PAD" + std::to_string(i) + "]";  // convert_hf_to_gguf.py's filler

  std::vector<std::string> merges;
  for (const Json& m : model.at("merges").as_array()) {
    if (m.is_string()) {
      merges.push_back(m.as_string());
    } else {
      LP_CHECK(m.is_array() && m.size() == 2, path << ": merge " << m.dump() << " is neither \"a b\" nor [a, b]");
      merges.push_back(m[0].as_string() + " " + m[1].as_string());
    }
  }

  const std::string config_path = model_dir + "/tokenizer_config.json";
  const Json tcfg = std::filesystem::is_regular_file(config_path) ? read_json_file(config_path) : Json::object();
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_i32s("tokenizer.ggml.token_type", types);
  w.set_strings("tokenizer.ggml.merges", merges);
  const int64_t bos = special_id(&tcfg, "bos_token", c.bos_token_id, tokens);
  const int64_t eos = special_id(&tcfg, "eos_token", c.eos_token_ids.empty() ? -1 : c.eos_token_ids.front(), tokens);
  const int64_t pad = special_id(&tcfg, "pad_token", c.pad_token_id, tokens);
  if (bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (pad >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(pad));
  const Json* add_bos = tcfg.find("add_bos_token");
  const Json* add_eos = tcfg.find("add_eos_token");
  w.set_bool("tokenizer.ggml.add_bos_token",
             add_bos && add_bos->is_bool() ? add_bos->as_bool() : template_adds_bos(tok));
  w.set_bool("tokenizer.ggml.add_eos_token", add_eos && add_eos->is_bool() ? add_eos->as_bool() : false);
  const Json* tmpl = tcfg.find("chat_template");
  const std::string jinja = model_dir + "/chat_template.jinja";
  if (tmpl && tmpl->is_string()) {
    w.set_string("tokenizer.chat_template", tmpl->as_string());
  } else if (std::filesystem::is_regular_file(jinja)) {
    w.set_string("tokenizer.chat_template", read_text(jinja));
  }
}

}  // namespace lp
