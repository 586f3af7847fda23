// Checked statements for the native runtime (ggml-style): a failed check throws lp::Error naming the
// statement, the function, file and line, and a hint. The addon turns it into a JS exception; the
// runtime never aborts the process.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace lp {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const char* statement, const char* func, const char* file, int line,
                              const std::string& hint) {
  std::ostringstream os;
  os << hint << " (check `" << statement << "` failed in " << func << " at " << file << ":" << line << ")";
  throw Error(os.str());
}

}  // namespace lp

// LP_CHECK(cond, "what was expected: " << value): the message is a stream expression.
#define LP_CHECK(cond, msg)                                                \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::ostringstream lp_check_os_;                                     \
      lp_check_os_ << msg;                                                 \
      ::lp::fail(#cond, __func__, __FILE__, __LINE__, lp_check_os_.str()); \
    }                                                                      \
  } while (0)
