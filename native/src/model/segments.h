// model/segments.h: the packed documents of a batch, from its position_ids, as the attention mask of
// every backend takes them (Backend::attention_forward's seg). Provides segments_from_positions.
#pragma once
#include <cstdint>

namespace lp {

// seg (B*T) from position_ids (B*T) as transformers detects packed sequences: a new segment starts
// at t = 0 and wherever position_ids[t] - position_ids[t-1] != 1. Ids are 0, 1, 2, ... per row.
void segments_from_positions(int32_t* seg, const int32_t* position_ids, int B, int T);

}  // namespace lp
