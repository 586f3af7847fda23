// Helpers for the model_*, train_* and peft_* tests: the PyTorch goldens of test/reference/goldens/<case>/
// (model, LoRA init, inputs, outputs, curve), temporary folders, and the error measure the tests use:
//   rel_err(a, ref) = max_i |a_i - ref_i| / max_i |ref_i|   (the error relative to the reference's scale).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "model/llama.h"
#include "test_util.h"

namespace lp::testing {

inline const char* const kGoldenCases[] = {"llama", "llama_gqa", "qwen2", "qwen3", "llama_rslora"};

// Parameterized tests are named after their case ("Model/ModelGolden.X/llama_gqa"), so that
// --gtest_filter='Model*:Train*:Peft*' selects them.
inline std::string case_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

inline double rel_err(const float* a, const float* ref, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  return scale > 0 ? diff / scale : diff;
}
inline double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  EXPECT_EQ(a.size(), ref.size());
  return rel_err(a.data(), ref.data(), std::min(a.size(), ref.size()));
}

// Greedy decoding (the KV-cache path) must pick, at every step, the argmax of the full-sequence
// forward over the prompt and the tokens generated before it.
inline void expect_greedy_follows_forward(LlamaModel& m, const std::vector<int32_t>& prompt,
                                          const std::vector<int32_t>& gen) {
  std::vector<int32_t> seq = prompt;
  const int V = static_cast<int>(m.config().vocab_size);
  for (int32_t tok : gen) {
    Batch b;
    b.B = 1;
    b.T = static_cast<int>(seq.size());
    b.input_ids = seq;
    std::vector<float> logits;
    m.logits(b, logits);
    const float* last = logits.data() + static_cast<size_t>(b.T - 1) * V;
    EXPECT_EQ(tok, std::max_element(last, last + V) - last) << "step " << seq.size() - prompt.size();
    seq.push_back(tok);
  }
}

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = (std::filesystem::temp_directory_path() / ("loraplane_" + tag + "_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One golden case: its LoRA settings (meta.json), batch (inputs.json) and reference tensors.
struct Golden {
  std::string name, dir;
  Json meta;
  LoadOptions opts;
  Batch batch;               // both rows
  std::vector<Batch> micro;  // row 0, row 1 (the curve's micro-batches)
  std::unique_ptr<SafetensorsFile> outputs, lora_init, nf4;

  explicit Golden(const std::string& case_name) : name(case_name), dir(golden_dir(case_name)) {
    meta = read_json_file(dir + "/meta.json");
    // The precision the reference computed in: float32 (the four cases), or bfloat16 (llama_bf16).
    opts.precision =
        meta.at("quantization").at("compute_dtype").as_string() == "bfloat16" ? Precision::BF16 : Precision::F32;
    const Json& l = meta.at("lora");
    opts.lora.r = static_cast<int>(l.at("r").as_int());
    opts.lora.alpha = static_cast<float>(l.at("lora_alpha").as_double());
    opts.lora.dropout = static_cast<float>(l.at("lora_dropout").as_double());
    opts.lora.use_rslora = l.at("use_rslora").as_bool();
    for (const Json& t : l.at("target_modules").as_array()) opts.lora.target_modules.push_back(t.as_string());
    const Json in = read_json_file(dir + "/inputs.json");
    const Json& ids = in.at("input_ids");
    batch.B = static_cast<int>(ids.size());
    batch.T = static_cast<int>(ids[0].size());
    for (size_t b = 0; b < ids.size(); ++b) {
      Batch row;
      row.B = 1;
      row.T = batch.T;
      for (size_t t = 0; t < ids[b].size(); ++t) {
        row.input_ids.push_back(static_cast<int32_t>(ids[b][t].as_int()));
        row.labels.push_back(static_cast<int32_t>(in.at("labels")[b][t].as_int()));
      }
      batch.input_ids.insert(batch.input_ids.end(), row.input_ids.begin(), row.input_ids.end());
      batch.labels.insert(batch.labels.end(), row.labels.begin(), row.labels.end());
      micro.push_back(std::move(row));
    }
    outputs = std::make_unique<SafetensorsFile>(dir + "/outputs.safetensors");
    lora_init = std::make_unique<SafetensorsFile>(dir + "/lora_init.safetensors");
    nf4 = std::make_unique<SafetensorsFile>(dir + "/nf4.safetensors");
  }

  std::vector<float> out(const std::string& tensor) const { return to_float32(outputs->get(tensor)); }

  // The model from model/ (quantized to NF4 here) with the golden's LoRA init.
  std::unique_ptr<LlamaModel> load(LoadOptions o) const {
    auto m = LlamaModel::load(dir + "/model", o);
    set_lora_init(*m);
    return m;
  }
  std::unique_ptr<LlamaModel> load() const { return load(opts); }

  void set_lora_init(LlamaModel& m) const {
    for (LoraParam& p : m.lora_params()) {
      const TensorView& t = lora_init->get(p.name);
      EXPECT_EQ(t.shape, p.shape) << p.name;
      p.value = to_float32(t);
    }
  }
};

}  // namespace lp::testing
