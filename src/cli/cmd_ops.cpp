// nnjoule ops: the op table, what each op's canonical form is and where it goes.
#include <algorithm>
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/graph/ops.hpp"

namespace nnjoule::cli {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::vector<std::string> input_names(const graph::OpDef& d) {
  std::vector<std::string> v;
  for (const auto& in : d.inputs) {
    std::string s = in.name;
    if (d.variadic) s += "...";
    if (in.optional) s = "[" + s + "]";
    if (in.int_constant) s += " (int64 constant)";
    v.push_back(s);
  }
  return v;
}

std::vector<std::string> attr_texts(const graph::OpDef& d) {
  std::vector<std::string> v;
  for (const auto& a : d.attrs) v.push_back(fmt::format("{} ({})", a.name, a.fallback));
  return v;
}

bool engine_runs(const std::vector<std::string>& engine, const std::string& op) {
  return std::binary_search(engine.begin(), engine.end(), op);
}

void run(bool json) {
  const auto engine = exec::engine_ops();
  const auto& table = graph::op_table();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : table) {
      nlohmann::json attrs = nlohmann::json::object();
      for (const auto& a : d.attrs) attrs[a.name] = a.fallback;
      out.push_back({{"op", d.name},
                     {"group", std::string(graph::group_name(d.group))},
                     {"inputs", input_names(d)},
                     {"outputs", d.max_outputs < 0 ? nlohmann::json("1 or more")
                                                   : nlohmann::json(d.max_outputs)},
                     {"attributes", attrs},
                     {"canonical", d.canonical},
                     {"kernel_class", d.kernel_class},
                     {"kernel_class_depends_on_node", d.classify != nullptr},
                     {"nnmeter_types", d.nnmeter_types},
                     {"engine", engine_runs(engine, d.name)}});
    }
    print_json(out);
    return;
  }
  TextTable t({"op", "group", "inputs", "kernel class", "nn-Meter IR types", "engine"});
  for (const auto& d : table) {
    t.add_row({d.name, std::string(graph::group_name(d.group)), joined(input_names(d)),
               d.kernel_class + (d.classify ? "*" : ""),
               d.nnmeter_types.empty() ? "-" : joined(d.nnmeter_types),
               engine_runs(engine, d.name) ? "yes" : "no"});
  }
  std::cout << fmt::format(
      "{} ops in nnjoule's IR (ONNX names, canonical forms; the importer rewrites older ones)\n",
      table.size());
  std::cout << t.render();
  std::cout << "* the kernel class depends on the node: a depthwise Conv is dwconv, Clip(0,6) "
               "relu6 and Clip(0,inf) relu,\n  MatMul by a constant 2-D matrix fc, ReduceMean "
               "over H and W global-avgpool\n";
  std::cout << "engine: yes = run by the XNNPACK engine and by the reference executor it is "
               "tested against\n\nAttributes (value when absent) and canonical form:\n";
  for (const auto& d : table) {
    if (d.attrs.empty() && d.canonical.empty()) continue;
    std::string line = "  " + d.name + ": " + joined(attr_texts(d));
    if (!d.canonical.empty()) line += (d.attrs.empty() ? "" : "; ") + d.canonical;
    std::cout << line << "\n";
  }
}

void register_ops(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "ops", "List the ops nnjoule knows: inputs, attributes, kernel class, nn-Meter IR types");
  cmd->add_flag("--json", *json, "Print JSON (format in docs/cli.md)");
  cmd->callback([json] { run(*json); });
}

}  // namespace

NNJOULE_COMMAND(12, register_ops);

}  // namespace nnjoule::cli
