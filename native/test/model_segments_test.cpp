// Tests for model/segments.h: the position_ids -> packed-document segment rule.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "model/segments.h"

namespace lp {
namespace {

TEST(Segments, FromPositionIds) {
  // HF: a new document wherever position_ids[t] - position_ids[t-1] != 1.
  const std::vector<int32_t> pos = {0, 1, 2, 0, 1, 0, 0, 1, 5, 6, /*row 2*/ 3, 4, 5, 0, 1, 2, 3, 4, 5, 6};
  std::vector<int32_t> seg(pos.size());
  segments_from_positions(seg.data(), pos.data(), 2, 10);
  EXPECT_EQ(seg, (std::vector<int32_t>{0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}));
}

}  // namespace
}  // namespace lp
