// nnjoule inspect: the kernel table of a model.
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/detect.hpp"

namespace nnjoule::cli {
namespace {

nlohmann::json kernel_json(const graph::Graph& g, const kernels::Kernel& k, size_t index) {
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [key, v] : k.config.items()) config[key] = v;
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t n : k.nodes) nodes.push_back(g.nodes[n].name);
  return {{"index", index},
          {"type", k.type},
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

void inspect(const std::string& model, const std::string& rules_file, bool json) {
  graph::ImportOptions options;
  options.keep_unknown_ops = true;  // listed as unknown:<Op> kernels, never dropped
  const auto g = graph::load_onnx(model, options);
  const auto rules = rules_file.empty() ? kernels::FusionRules::xnnpack_default()
                                        : kernels::FusionRules::from_file(rules_file);
  const auto ks = kernels::detect_kernels(g, rules);
  const auto totals = kernels::summarize(g, ks);
  if (json) {
    nlohmann::json j;
    j["model"] = model;
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
    j["totals"] = {{"kernels", ks.size()},
                   {"nodes", g.nodes.size()},
                   {"flops", totals.flops},
                   {"params", totals.params},
                   {"bytes", totals.bytes}};
    j["unknown_ops"] = nlohmann::json::array();
    for (const auto& [op, node] : totals.unknown_ops)
      j["unknown_ops"].push_back({{"op", op}, {"node", node}});
    print_json(j);
    return;
  }
  fmt::print("model   {} ({})\n", printable(model), printable(g.name));
  for (const auto& in : g.inputs) fmt::print("input   {} {}\n", in, graph::shape_str(g.shape(in)));
  fmt::print("rules   {}\n", rules.source());
  for (const auto& note : g.notes) fmt::print("note    {}\n", note);
  fmt::print("\n");
  TextTable t({"#", "kernel", "config", "output", "FLOPs", "params", "bytes"},
              {TextTable::Align::kRight, TextTable::Align::kLeft, TextTable::Align::kLeft,
               TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight});
  for (size_t i = 0; i < ks.size(); ++i) {
    const auto& k = ks[i];
    t.add_row({std::to_string(i), k.type, k.config.str(),
               k.output_shapes.empty() ? "-" : graph::shape_str(k.output_shapes[0]),
               format_count(k.flops), format_count(static_cast<double>(k.params)),
               format_count(static_cast<double>(k.bytes))});
  }
  std::cout << t.render();
  fmt::print("\n{} kernels from {} nodes; FLOPs {}, params {}, bytes moved {} (counted)\n",
             ks.size(), g.nodes.size(), format_count(totals.flops),
             format_count(static_cast<double>(totals.params)),
             format_count(static_cast<double>(totals.bytes)));
  std::string counts;
  for (const auto& [type, n] : totals.count_by_type) {
    counts += fmt::format("{}{} x{}", counts.empty() ? "" : ", ", type, n);
  }
  fmt::print("by type: {}\n", counts);
  if (totals.unknown_ops.empty()) {
    fmt::print("unknown ops: none\n");
  } else {
    fmt::print("unknown ops ({}), not counted in FLOPs:\n", totals.unknown_ops.size());
    for (const auto& [op, node] : totals.unknown_ops)
      fmt::print("  {} (node '{}')\n", printable(op), printable(node));
  }
}

void register_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect",
                                 "Split a model into kernels: type, config, FLOPs, "
                                 "params and bytes per kernel");
  auto model = std::make_shared<std::string>();
  auto rules = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model file")->required();
  cmd->add_option("--rules", *rules,
                  "fusion rules in nn-Meter's fusion_rules.json format (default: built-in "
                  "XNNPACK rules)");
  cmd->add_flag("--json", *json, "print JSON (format in docs/cli.md)");
  cmd->callback([=] { inspect(*model, *rules, *json); });
}

}  // namespace

NNJOULE_COMMAND(10, register_inspect);

}  // namespace nnjoule::cli
