// Tests for core/json.h: parsing, int/double preservation, escapes, Python-compatible output, errors.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/json.h"
#include "test_util.h"

namespace {

using lp::testing::golden_dir;
using lp::testing::read_file;

std::string parse_error(std::string_view text) {
  try {
    lp::Json::parse(text, "test.json");
  } catch (const lp::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(CoreJson, ParsesScalarsKeepingIntVersusDouble) {
  lp::Json j = lp::Json::parse(
      R"({"i": 16, "neg": -3, "d": 1.0, "e": 1e-5, "big": 123456789012345678901, "t": true, "n": null})");
  EXPECT_TRUE(j.at("i").is_int());
  EXPECT_EQ(j.at("i").as_int(), 16);
  EXPECT_EQ(j.at("neg").as_int(), -3);
  EXPECT_TRUE(j.at("d").is_number() && !j.at("d").is_int());
  EXPECT_EQ(j.at("d").as_double(), 1.0);
  EXPECT_EQ(j.at("e").as_double(), 1e-5);
  EXPECT_FALSE(j.at("big").is_int());  // beyond int64: kept as a double, as Python would read it approximately
  EXPECT_DOUBLE_EQ(j.at("big").as_double(), 123456789012345678901.0);
  EXPECT_TRUE(j.at("t").as_bool());
  EXPECT_TRUE(j.at("n").is_null());
  EXPECT_EQ(j.at("i").as_double(), 16.0);  // ints read as numbers
  EXPECT_THROW(j.at("d").as_int(), lp::Error);
  EXPECT_EQ(j.dump(), R"({"i":16,"neg":-3,"d":1.0,"e":1e-05,"big":1.2345678901234568e+20,"t":true,"n":null})");
}

TEST(CoreJson, KeepsInsertionOrderAndLastDuplicate) {
  lp::Json j = lp::Json::parse(R"({"b": 1, "a": 2, "b": 3})");
  ASSERT_EQ(j.items().size(), 2u);
  EXPECT_EQ(j.items()[0].first, "b");
  EXPECT_EQ(j.items()[0].second.as_int(), 3);
  EXPECT_EQ(j.dump(), R"({"b":3,"a":2})");
}

TEST(CoreJson, DecodesEscapesAndSurrogatePairs) {
  lp::Json j = lp::Json::parse(R"(["caf\u00e9", "\ud83d\ude00", "a\nb\t\"\\\/", "\u0001"])");
  EXPECT_EQ(j[0].as_string(), "caf\xC3\xA9");
  EXPECT_EQ(j[1].as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(j[2].as_string(), "a\nb\t\"\\/");
  EXPECT_EQ(j[3].as_string(), std::string(1, '\x01'));
  // serde_json style keeps UTF-8; Python's default (ensure_ascii) escapes it.
  EXPECT_EQ(j.dump(), "[\"caf\xC3\xA9\",\"\xF0\x9F\x98\x80\",\"a\\nb\\t\\\"\\\\/\",\"\\u0001\"]");
  EXPECT_EQ(j.dump_python(), R"(["caf\u00e9", "\ud83d\ude00", "a\nb\t\"\\/", "\u0001"])");
}

TEST(CoreJson, FormatsDoublesAsPythonRepr) {
  const std::pair<double, const char*> cases[] = {
      {1e-05, "1e-05"},
      {0.05, "0.05"},
      {10000.0, "10000.0"},
      {1000000.0, "1000000.0"},
      {1e16, "1e+16"},
      {1e15, "1000000000000000.0"},
      {1.5e-07, "1.5e-07"},
      {0.0001, "0.0001"},
      {0.00012, "0.00012"},
      {123456789012345.6, "123456789012345.6"},
      {0.1, "0.1"},
      {-2.5, "-2.5"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.012345678918063641, "0.012345678918063641"},
      {5.65685424949238, "5.65685424949238"},
      {1e22, "1e+22"},
      {100.0, "100.0"},
      {-0.0, "-0.0"},
  };
  for (const auto& [v, s] : cases) EXPECT_EQ(lp::format_double_python(v), s) << s;
  EXPECT_EQ(lp::Json::parse("[NaN, Infinity, -Infinity]").dump(), "[NaN,Infinity,-Infinity]");
}

TEST(CoreJson, DumpsLikePythonIndent2SortKeys) {
  lp::Json j = lp::Json::parse(
      R"({"r":16,"lora_alpha":32,"target_modules":["q_proj","v_proj"],"bias":"none","lora_dropout":0.05,)"
      R"("inference_mode":true,"layers_pattern":null,"alpha_pattern":{},"empty":[],"name":"caf\u00e9 \ud83d\ude00",)"
      R"("nested":{"b":[1,{"x":1e-06}],"a":"\u0001\t\"\\"}})");
  // Output of Python's json.dumps(d, indent=2, sort_keys=True) for the same dict.
  const char* expected = R"({
  "alpha_pattern": {},
  "bias": "none",
  "empty": [],
  "inference_mode": true,
  "layers_pattern": null,
  "lora_alpha": 32,
  "lora_dropout": 0.05,
  "name": "caf\u00e9 \ud83d\ude00",
  "nested": {
    "a": "\u0001\t\"\\",
    "b": [
      1,
      {
        "x": 1e-06
      }
    ]
  },
  "r": 16,
  "target_modules": [
    "q_proj",
    "v_proj"
  ]
})";
  EXPECT_EQ(j.dump_python_pretty(), expected);
}

TEST(CoreJson, ReproducesGoldenFilesByteForByte) {
  // PEFT writes adapter_config.json with json.dumps(indent=2, sort_keys=True); transformers writes
  // config.json the same way plus a newline.
  for (const char* c : {"llama", "llama_gqa", "qwen2", "qwen3", "llama_rslora"}) {
    const std::string adapter = read_file(golden_dir(std::string(c) + "/final_adapter/adapter_config.json"));
    ASSERT_FALSE(adapter.empty()) << c;
    EXPECT_EQ(lp::Json::parse(adapter).dump_python_pretty(), adapter) << c;
    const std::string config = read_file(golden_dir(std::string(c) + "/model/config.json"));
    EXPECT_EQ(lp::read_json_file(golden_dir(std::string(c) + "/model/config.json")).dump_python_pretty() + "\n", config)
        << c;
  }
}

TEST(CoreJson, RoundTripsThroughCompactForm) {
  lp::Json j = lp::Json::object();
  j.set("z", lp::Json(lp::Json::Array{lp::Json(1), lp::Json(2.5), lp::Json("x"), lp::Json()}));
  j.set("a", lp::Json::object());
  j.set("ctrl", std::string("\x1f\x7f", 2));
  j.set("i64", int64_t{-9223372036854775807 - 1});
  EXPECT_EQ(lp::Json::parse(j.dump()), j);
  EXPECT_EQ(lp::Json::parse(j.dump_python_pretty()), j);
  EXPECT_EQ(j.dump(), "{\"z\":[1,2.5,\"x\",null],\"a\":{},\"ctrl\":\"\\u001f\x7f\",\"i64\":-9223372036854775808}");
}

TEST(CoreJson, ParseErrorsNameTheByteOffset) {
  EXPECT_NE(parse_error(R"({"a": })").find("test.json: expected a value at byte offset 6"), std::string::npos)
      << parse_error(R"({"a": })");
  EXPECT_NE(parse_error(R"({"a": 1} x)").find("unexpected trailing data at byte offset 9"), std::string::npos);
  EXPECT_NE(parse_error(R"(["abc)").find("unterminated string at byte offset 5 (end of input)"), std::string::npos);
  EXPECT_NE(parse_error(R"(["\q"])").find("invalid escape character at byte offset 3"), std::string::npos);
  EXPECT_NE(parse_error("[\"a\nb\"]").find("unescaped control character in string at byte offset 3"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a" 1})").find("expected ':' after object key at byte offset 5"), std::string::npos);
  EXPECT_NE(parse_error(R"([1, 2)").find("expected ',' or ']' in array at byte offset 5"), std::string::npos);
  EXPECT_NE(parse_error(R"([01])").find("expected ',' or ']' in array at byte offset 2"), std::string::npos);
  EXPECT_NE(parse_error(R"([-])").find("expected digits in number at byte offset 2"), std::string::npos);
  EXPECT_NE(parse_error(R"({1: 2})").find("expected a string key at byte offset 1"), std::string::npos);
  EXPECT_NE(parse_error(std::string(600, '[')).find("nesting deeper than 512"), std::string::npos);
  EXPECT_NE(parse_error("").find("expected a value at byte offset 0 (end of input)"), std::string::npos);
}

TEST(CoreJson, TypedAccessErrorsNameKeyAndType) {
  lp::Json j = lp::Json::parse(R"({"a": "x"})");
  try {
    j.at("missing");
    FAIL();
  } catch (const lp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing JSON key \"missing\""), std::string::npos);
  }
  try {
    j.at("a").as_int();
    FAIL();
  } catch (const lp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected a JSON integer, got string"), std::string::npos);
  }
  EXPECT_THROW(lp::read_json_file("/nonexistent/config.json"), lp::Error);
}
