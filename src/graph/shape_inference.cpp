#include "nnjoule/graph/shape_inference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"

namespace nnjoule::graph {

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& context) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail("{}: shapes {} and {} do not broadcast", context, shape_str(a), shape_str(b));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t window_output(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                      int64_t dilation, bool ceil_mode) {
  const int64_t eff = (k - 1) * dilation + 1;
  const int64_t span = in + pad_begin + pad_end - eff;
  if (span < 0) return 0;
  int64_t out = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
  // A ceil-mode window must start inside the input or left padding (ONNX/PyTorch rule).
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

void infer_shapes(Graph& g) {
  g.toposort();
  for (const auto& n : g.nodes) {
    if (!is_supported_op(n.op_type)) {
      // An op nnjoule does not know keeps the shapes the importer took from onnx's inference;
      // kernel detection then reports it as unknown:<OpType>.
      bool known = true;
      for (const auto& o : n.outputs) known = known && (o.empty() || g.values.count(o));
      if (known) continue;
    }
    auto outs = infer_node(g, n);
    if (outs.size() < n.outputs.size()) {
      fail("node '{}' ({}): has {} outputs, op defines {}", n.name, n.op_type, n.outputs.size(),
           outs.size());
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (!n.outputs[i].empty()) g.values[n.outputs[i]] = outs[i];
    }
  }
}

}  // namespace nnjoule::graph
