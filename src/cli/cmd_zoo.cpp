// nnjoule zoo: list the model families (and export them with their variants as ONNX).
#include <fmt/format.h>

#include <filesystem>

#include "command.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/zoo/export.hpp"
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

struct ExportOptions {
  std::vector<std::string> families;
  int64_t variants = 0;
  uint64_t seed = 0;
  int64_t resolution = 0;
  bool sample_resolution = false;
  std::string dir;
  std::string dtype = "fp32";
  int64_t calibration = 8;
  bool json = false;
};

void run_export(const ExportOptions& o) {
  zoo::ExportRequest r{.families = o.families,
                       .variants = o.variants,
                       .seed = o.seed,
                       .resolution = o.resolution,
                       .sample_resolution = o.sample_resolution,
                       .dir = o.dir,
                       .dtype = o.dtype};
  r.quantize.runner = exec::run_feeds;
  r.quantize.calibration_inputs = o.calibration;
  r.quantize.seed = o.seed;
  const auto models = zoo::export_models(r, [&](const zoo::ExportedModel& m) {
    if (o.json) return;
    std::cout << fmt::format("wrote {}  R={}  parameters {}  FLOPs {}  kernels {}\n",
                             (std::filesystem::path(o.dir) / m.file).string(), m.resolution,
                             m.counts.parameters, format_count(m.counts.flops), m.counts.kernels);
    if (m.quantize) {
      std::cout << fmt::format("  int8: top-1 agreement {:.3f}, SNR {:.1f} dB ({})\n",
                               m.quantize->top1_agreement, m.quantize->snr_db,
                               zoo::agreement_origin(*m.quantize));
    }
  });
  const std::string rules = models.empty() ? "" : models.front().counts.rules;
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : models) list.push_back(zoo::to_json(m));
    print_json({{"dir", o.dir},
                {"manifest", (std::filesystem::path(o.dir) / "manifest.json").string()},
                {"counts", {{"origin", "counted"}, {"fusion_rules", rules}}},
                {"models", list}});
    return;
  }
  std::cout << fmt::format(
      "{} model(s), manifest {}; parameters, FLOPs and kernels: counted ({} fusion rules)\n",
      models.size(), (std::filesystem::path(o.dir) / "manifest.json").string(), rules);
}

void register_zoo(CLI::App& app) {
  auto* zoo = app.add_subcommand("zoo", "Model zoo: CNN families and their seeded variants");
  zoo->require_subcommand(1);

  auto list_opts = std::make_shared<ListOptions>();
  auto* list = zoo->add_subcommand(
      "list", "List the model families with their parameters, FLOPs and kernel counts");
  list->add_flag("--json", list_opts->json, "Print JSON (format in docs/cli.md)");
  list->callback([list_opts] { run_list(*list_opts); });

  auto ex = std::make_shared<ExportOptions>();
  auto* exp = zoo->add_subcommand(
      "export", "Write models (base or seeded variants) as ONNX files with a manifest.json");
  exp->add_option("family", ex->families, "Family names (see `zoo list`) or `all`")->required();
  exp->add_option("--variants", ex->variants,
                  "Export variants 0..N-1 of the seed instead of the base model")
      ->check(CLI::NonNegativeNumber);
  exp->add_option("--seed", ex->seed, "Seed of the variants and the weights (default 0)");
  exp->add_option("--resolution", ex->resolution, "Input side (default: the family's, 224)")
      ->check(CLI::PositiveNumber);
  exp->add_flag("--sample-resolution", ex->sample_resolution,
                "Draw each variant's input side from the family's set (needs --variants)");
  exp->add_option("--dtype", ex->dtype,
                  "fp32 (default) or int8: post-training quantized QDQ models, <name>-int8.onnx "
                  "(docs/quantization.md)")
      ->check(CLI::IsMember({"fp32", "int8"}));
  exp->add_option("--calibration", ex->calibration,
                  "int8: synthetic inputs the activation ranges are calibrated on (default 8)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  exp->add_option("-o,--output", ex->dir, "Output directory (created if missing)")->required();
  exp->add_flag("--json", ex->json, "Print JSON (format in docs/cli.md)");
  exp->callback([ex] { run_export(*ex); });
}

}  // namespace

NNJOULE_COMMAND(20, register_zoo);

}  // namespace nnjoule::cli
