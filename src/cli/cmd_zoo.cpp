// nnjoule zoo: list the model families (and export them with their variants as ONNX).
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::cli {
namespace {

struct ListOptions {
  bool json = false;
};

void run_list(const ListOptions& o) {
  nlohmann::json families = nlohmann::json::array();
  TextTable table(
      {"family", "model", "R", "min R", "variant kernels", "parameters", "FLOPs", "kernels"},
      {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kLeft, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kRight});
  std::string rules;
  for (const auto& f : zoo::families()) {
    const auto g = zoo::build_model({.family = f.name, .materialize_weights = false});
    const auto c = zoo::count_model(g);
    rules = c.rules;
    families.push_back({{"name", f.name},
                        {"title", f.title},
                        {"source", f.source},
                        {"default_resolution", f.default_resolution},
                        {"min_resolution", f.min_resolution},
                        {"kernel_sizes", f.kernel_sizes},
                        {"resolutions", f.resolutions},
                        {"parameters", c.parameters},
                        {"flops", c.flops},
                        {"kernels", c.kernels}});
    table.add_row({f.name, f.title, std::to_string(f.default_resolution),
                   std::to_string(f.min_resolution),
                   fmt::format("{}", fmt::join(f.kernel_sizes, ",")), std::to_string(c.parameters),
                   format_count(c.flops), std::to_string(c.kernels)});
  }
  if (o.json) {
    print_json(
        {{"families", families}, {"counts", {{"origin", "counted"}, {"fusion_rules", rules}}}});
    return;
  }
  std::cout << table.render()
            << fmt::format(
                   "parameters, FLOPs and kernels: counted at the default resolution R "
                   "(kernel detection, {} fusion rules)\n",
                   rules);
}

void register_zoo(CLI::App& app) {
  auto* zoo = app.add_subcommand("zoo", "Model zoo: CNN families and their seeded variants");
  zoo->require_subcommand(1);

  auto list_opts = std::make_shared<ListOptions>();
  auto* list = zoo->add_subcommand(
      "list", "List the model families with their parameters, FLOPs and kernel counts");
  list->add_flag("--json", list_opts->json, "Print JSON (format in docs/cli.md)");
  list->callback([list_opts] { run_list(*list_opts); });
}

}  // namespace

NNJOULE_COMMAND(20, register_zoo);

}  // namespace nnjoule::cli
