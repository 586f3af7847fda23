// Helpers every native test may use: where the goldens are, whole-file reads and writes, and the
// message an lp::Error carries.
#pragma once
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "core/check.h"

namespace lp::testing {

// The repository root: LORAPLANE_REPO_ROOT from the environment (a binary built elsewhere and carried
// to a GPU machine), else the checkout it was built from.
inline std::string repo_root() {
  const char* env = std::getenv("LORAPLANE_REPO_ROOT");
  return env && *env ? env : LORAPLANE_REPO_ROOT;
}

// A path under test/reference/goldens/.
inline std::string golden_dir(const std::string& name) { return repo_root() + "/test/reference/goldens/" + name; }

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// The message of the lp::Error that f throws; "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace lp::testing
