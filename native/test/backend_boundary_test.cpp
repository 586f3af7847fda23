// The backend boundary (backend/registry.h): the backend interface and the model reach the cpu/ and
// cuda/ implementations only through the registry, so no header they include, directly or through
// another header, is a cpu/ or cuda/ one. Reads the sources: quoted includes, followed transitively.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace lp {
namespace {

namespace fs = std::filesystem;

const fs::path kSrc = fs::path(LORAPLANE_REPO_ROOT) / "native" / "src";

bool is_backend_impl(const std::string& rel) { return rel.rfind("cpu/", 0) == 0 || rel.rfind("cuda/", 0) == 0; }

// The chains (a.h -> b.h -> cpu/x.h) from `rel` (a path under src/) to a cpu/ or cuda/ header.
void find_impl_includes(const std::string& rel, std::vector<std::string>& chain, std::set<std::string>& seen,
                        std::vector<std::string>& found) {
  static const std::regex include_line(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::ifstream in(kSrc / rel);
  ASSERT_TRUE(in) << "cannot read " << (kSrc / rel);
  chain.push_back(rel);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, include_line)) continue;
    const std::string inc = m[1];
    if (is_backend_impl(inc)) {
      std::string path;
      for (const std::string& c : chain) path += c + " -> ";
      found.push_back(path + inc);
    } else if (fs::exists(kSrc / inc) && seen.insert(inc).second) {
      find_impl_includes(inc, chain, seen, found);
    }
  }
  chain.pop_back();
}

std::vector<std::string> impl_includes(const std::string& rel) {
  std::vector<std::string> chain, found;
  std::set<std::string> seen;
  find_impl_includes(rel, chain, seen, found);
  return found;
}

TEST(BackendBoundary, TheInterfaceAndTheModelIncludeNoBackend) {
  std::vector<std::string> files = {"backend/backend.h", "backend/buffer.h", "backend/registry.h", "backend/select.h"};
  for (const char* dir : {"model", "train"})
    for (const auto& e : fs::directory_iterator(kSrc / dir))
      files.push_back(std::string(dir) + "/" + e.path().filename().string());
  ASSERT_GT(files.size(), 10u);
  for (const std::string& f : files) {
    for (const std::string& chain : impl_includes(f)) ADD_FAILURE() << chain;
  }
}

// The scan sees what it must not see elsewhere: the registry is the one place that names the backends.
TEST(BackendBoundary, TheRegistryIsWhereTheBackendsAreNamed) {
  const std::vector<std::string> found = impl_includes("backend/registry.cpp");
  EXPECT_EQ(found, (std::vector<std::string>{"backend/registry.cpp -> cpu/registry.h",
                                             "backend/registry.cpp -> cuda/registry.h"}));
}

}  // namespace
}  // namespace lp
