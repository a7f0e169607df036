#include "nnjoule/kernels/inspect.hpp"

#include "nnjoule/graph/onnx.hpp"

namespace nnjoule::kernels {
namespace {

nlohmann::json kernel_json(const graph::Graph& g, const Kernel& k, size_t index) {
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [key, v] : k.config.items()) config[key] = v;
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t n : k.nodes) nodes.push_back(g.nodes[n].name);
  return {{"index", index},
          {"type", k.type},
          {"dtype", k.dtype},
          {"name", k.name},
          {"ops", k.ops},
          {"nodes", nodes},
          {"config", config},
          {"input_shapes", k.input_shapes},
          {"output_shapes", k.output_shapes},
          {"flops", k.flops},
          {"params", k.params},
          {"bytes", k.bytes}};
}

}  // namespace

Inspection inspect_model(const std::string& model, const std::string& rules_file) {
  graph::ImportOptions options;
  options.keep_unknown_ops = true;
  Inspection r;
  r.model = model;
  r.graph = graph::load_onnx(model, options);
  if (!rules_file.empty()) r.rules = FusionRules::from_file(rules_file);
  r.kernels = detect_kernels(r.graph, r.rules);
  return r;
}

nlohmann::json to_json(const Inspection& inspection) {
  const auto& g = inspection.graph;
  const auto& ks = inspection.kernels;
  const auto& rules = inspection.rules;
  const auto totals = summarize(g, ks);
  nlohmann::json j;
  j["model"] = inspection.model;
  j["graph"] = g.name;
  j["origin"] = "counted";  // FLOPs, parameters and bytes are exact counts, not measurements
  j["inputs"] = nlohmann::json::array();
  for (const auto& in : g.inputs) j["inputs"].push_back({{"name", in}, {"shape", g.shape(in)}});
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : g.outputs) j["outputs"].push_back({{"name", o}, {"shape", g.shape(o)}});
  j["notes"] = g.notes;
  j["fusion_rules"] = rules.source();
  j["kernels"] = nlohmann::json::array();
  for (size_t i = 0; i < ks.size(); ++i) j["kernels"].push_back(kernel_json(g, ks[i], i));
  j["kernel_counts"] = totals.count_by_type;
  j["kernel_dtypes"] = totals.count_by_dtype;
  j["totals"] = {{"kernels", ks.size()},
                 {"nodes", g.nodes.size()},
                 {"flops", totals.flops},
                 {"params", totals.params},
                 {"bytes", totals.bytes}};
  j["unknown_ops"] = nlohmann::json::array();
  for (const auto& [op, node] : totals.unknown_ops)
    j["unknown_ops"].push_back({{"op", op}, {"node", node}});
  return j;
}

}  // namespace nnjoule::kernels
