// cuda/segments.cuh: the bounds of a token's packed document within its row, for the attention
// kernels. Segment ids never decrease along a row (model/segments.h numbers documents 0, 1, 2, ...),
// so each bound is a binary search: O(log T) per tile, not a scan.
#pragma once
#include <cstdint>

namespace lp::cuda {

// First token of t's segment in its row.
__device__ inline int segment_start(const int32_t* seg_row, int t) {
  const int32_t s = seg_row[t];
  int lo = 0, hi = t;  // the first index in [lo, hi] whose id is s
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (seg_row[mid] < s)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// Last token of t's segment in its row.
__device__ inline int segment_last(const int32_t* seg_row, int t, int T) {
  const int32_t s = seg_row[t];
  int lo = t, hi = T - 1;  // the last index in [lo, hi] whose id is s
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (seg_row[mid] > s)
      hi = mid - 1;
    else
      lo = mid;
  }
  return lo;
}

// First key any query of the tile starting at q0 may see: q0's document start, or the window's.
__device__ inline int first_visible_key(const int32_t* seg_row, int q0, int window) {
  const int lo = segment_start(seg_row, q0);
  return window > 0 ? max(lo, q0 - window + 1) : lo;
}

// Last query that may see a key of the tile ending at k_last: k_last's document end, or the window's.
__device__ inline int last_seeing_query(const int32_t* seg_row, int k_last, int T, int window) {
  const int hi = segment_last(seg_row, k_last, T);
  return window > 0 ? min(hi, k_last + window - 1) : hi;
}

// Whether query i sees key j of the same row: causal, same document, inside the sliding window.
__device__ inline bool visible(int i, int j, int32_t seg_i, int32_t seg_j, int window) {
  return j <= i && seg_i == seg_j && (window <= 0 || i - j < window);
}

}  // namespace lp::cuda
