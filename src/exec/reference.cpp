// The reference executor: one plain loop nest per op over row-major NCHW tensors, from the
// engine's op table (ops.hpp; each family file holds its ops' loops). Sums run in double so
// that the engine's float32 results are compared against something more exact.
#include "nnjoule/exec/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "ops.hpp"

namespace nnjoule::exec {

using graph::Graph;
using graph::Node;
using graph::Shape;

std::vector<Tensor> reference_node(const Graph& g, const Node& n, const TensorLookup& get) {
  const ExecOp* op = find_exec_op(n.op_type);
  const graph::OpDef* def = graph::find_op(n.op_type);
  if (!op || !def) node_fail(n, "op not supported by the reference executor");
  RefCall c{g, n, {}, n.outputs.empty() ? Shape{} : g.shape(n.outputs[0])};
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const auto& spec = def->inputs[std::min(i, def->inputs.size() - 1)];
    const bool int_arg = spec.int_constant;  // read from the graph's constants by the op
    c.in.push_back(n.inputs[i].empty() || int_arg ? nullptr : &get(n.inputs[i]));
  }
  if (c.in.empty() || !c.in[0]) node_fail(n, "missing input 0");
  return op->reference(c);
}

std::vector<Tensor> run_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  if (inputs.size() != g.inputs.size()) {
    fail("graph '{}' has {} inputs, {} given", g.name, g.inputs.size(), inputs.size());
  }
  std::map<std::string, Tensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& want = g.shape(g.inputs[i]);
    if (inputs[i].shape != want || inputs[i].size() != graph::numel(want)) {
      fail("input '{}' expects shape {}, got {}", g.inputs[i], graph::shape_str(want),
           graph::shape_str(inputs[i].shape));
    }
    values[g.inputs[i]] = inputs[i];
  }
  std::map<std::string, Tensor> constants;
  // Last node reading each tensor, so intermediates are freed as soon as possible.
  std::map<std::string, size_t> last_use;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& t : g.nodes[i].inputs) last_use[t] = i;
  const std::set<std::string> outputs(g.outputs.begin(), g.outputs.end());

  TensorLookup get = [&](const std::string& name) -> const Tensor& {
    if (auto it = values.find(name); it != values.end()) return it->second;
    if (auto it = constants.find(name); it != constants.end()) return it->second;
    if (g.is_constant(name)) {
      return constants[name] = constant_tensor(g.constant(name), name);
    }
    fail("tensor '{}' has no value", name);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    auto outs = reference_node(g, n, get);
    for (size_t o = 0; o < n.outputs.size() && o < outs.size(); ++o) {
      if (!n.outputs[o].empty()) values[n.outputs[o]] = std::move(outs[o]);
    }
    for (const auto& t : n.inputs) {
      if (last_use[t] == i && !outputs.count(t)) values.erase(t);
    }
  }
  std::vector<Tensor> result;
  for (const auto& o : g.outputs) result.push_back(get(o));
  return result;
}

}  // namespace nnjoule::exec
