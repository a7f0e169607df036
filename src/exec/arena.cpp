// The activation arena: buffers whose lifetimes do not overlap share bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "internal.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::exec::detail {

// ---- arena ----

int64_t plan_arena(std::vector<Buffer>& buffers, int64_t alignment) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  std::vector<size_t> placed;
  int64_t total = 0;
  for (size_t i : order) {
    Buffer& b = buffers[i];
    // Buffers alive at the same time as b, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed) {
      const Buffer& o = buffers[j];
      if (o.first <= b.last && b.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds b, else the end.
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - cursor >= b.bytes && lo - cursor < best_gap) best = cursor, best_gap = lo - cursor;
      cursor = std::max(cursor, (hi + alignment - 1) / alignment * alignment);
    }
    b.offset = best >= 0 ? best : cursor;
    total = std::max(total, b.offset + b.bytes);
    placed.push_back(i);
  }
  return total;
}

}  // namespace nnjoule::exec::detail
