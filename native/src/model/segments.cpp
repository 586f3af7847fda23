// model/segments.cpp: packed-document segment ids (see segments.h).
#include "model/segments.h"

#include <cstddef>

namespace lp {

void segments_from_positions(int32_t* seg, const int32_t* position_ids, int B, int T) {
  for (int b = 0; b < B; ++b) {
    const int32_t* p = position_ids + (size_t)b * T;
    int32_t* s = seg + (size_t)b * T;
    int32_t id = 0;
    for (int t = 0; t < T; ++t) {
      if (t > 0 && p[t] - p[t - 1] != 1) ++id;
      s[t] = id;
    }
  }
}

}  // namespace lp
