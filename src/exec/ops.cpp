// The engine's op table, joined from its family files.
#include "ops.hpp"

#include "nnjoule/exec/engine.hpp"

#include <algorithm>

namespace nnjoule::exec {

const std::vector<ExecOp>& exec_ops() {
  static const std::vector<ExecOp> table = [] {
    std::vector<ExecOp> t;
    for (auto family : {spatial_ops, linear_ops, elementwise_ops, data_ops, quant_ops}) {
      for (auto& op : family()) t.push_back(std::move(op));
    }
    std::sort(t.begin(), t.end(), [](const ExecOp& a, const ExecOp& b) { return a.name < b.name; });
    return t;
  }();
  return table;
}

const ExecOp* find_exec_op(std::string_view op_type) {
  const auto& t = exec_ops();
  auto it = std::lower_bound(t.begin(), t.end(), op_type,
                             [](const ExecOp& d, std::string_view name) { return d.name < name; });
  return it != t.end() && it->name == op_type ? &*it : nullptr;
}

std::vector<std::string> engine_ops() {
  std::vector<std::string> names;
  for (const auto& op : exec_ops()) names.push_back(op.name);
  return names;
}

}  // namespace nnjoule::exec
