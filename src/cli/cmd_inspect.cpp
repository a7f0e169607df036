// nnjoule inspect: the kernel table of a model.
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/inspect.hpp"

namespace nnjoule::cli {
namespace {

void inspect(const std::string& model, const std::string& rules_file, bool json) {
  const auto inspection = kernels::inspect_model(model, rules_file);
  const auto& g = inspection.graph;
  const auto& ks = inspection.kernels;
  const auto& rules = inspection.rules;
  if (json) {
    print_json(kernels::to_json(inspection));
    return;
  }
  const auto totals = kernels::summarize(g, ks);
  fmt::print("model   {} ({})\n", printable(model), printable(g.name));
  for (const auto& in : g.inputs) fmt::print("input   {} {}\n", in, graph::shape_str(g.shape(in)));
  fmt::print("rules   {}\n", rules.source());
  for (const auto& note : g.notes) fmt::print("note    {}\n", note);
  fmt::print("\n");
  TextTable t({"#", "kernel", "dtype", "config", "output", "FLOPs", "params", "bytes"},
              {TextTable::Align::kRight, TextTable::Align::kLeft, TextTable::Align::kLeft,
               TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight});
  for (size_t i = 0; i < ks.size(); ++i) {
    const auto& k = ks[i];
    t.add_row({std::to_string(i), k.type, k.dtype, k.config.str(),
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
  // Every dtype named, zeros included: "0 int8" says the model is not quantized.
  const auto count_of = [&](const char* d) {
    auto it = totals.count_by_dtype.find(d);
    return it == totals.count_by_dtype.end() ? 0 : it->second;
  };
  fmt::print("by dtype: {} int8, {} fp32 kernels\n", count_of(kernels::kInt8),
             count_of(kernels::kFp32));
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
