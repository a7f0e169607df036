// nnjoule import: published datasets into an energy dataset file.
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/store/importers.hpp"

namespace nnjoule::cli {
namespace {

struct ImportOptions {
  std::string source;  // directory or file
  std::string db;
  bool json = false;
  double min_power_mw = 300, max_power_mw = 4000;
};

std::string command_line(const std::string& what, const ImportOptions& o) {
  return fmt::format("nnjoule import {} {} --db {}", what, o.source, o.db);
}

// Lists every problem, then fails once: the rest was stored.
void finish(const std::vector<std::string>& errors) {
  if (errors.empty()) return;
  for (const auto& e : errors) std::cerr << "nnjoule: error: " << e << "\n";
  fail("{} problem(s) in the input (listed above); everything else was imported", errors.size());
}

void register_import(CLI::App& app) {
  auto* imp = app.add_subcommand("import", "Import a published dataset into a dataset file");
  imp->require_subcommand(1);

  auto d = std::make_shared<ImportOptions>();
  auto* de = imp->add_subcommand(
      "deepen2023",
      "DeepEn2023 kernel energy release (Huawei P40 Pro, Cortex-A76, TFLite, 1 thread)");
  de->add_option("dir", d->source, "Release directory (Kernel_energy/, Kernel_power/, ...)")
      ->required();
  de->add_option("--db", d->db, "Dataset file (created when absent)")->required();
  de->add_option("--min-power-mw", d->min_power_mw,
                 "Flag rows with less power as implausible (default 300)");
  de->add_option("--max-power-mw", d->max_power_mw,
                 "Flag rows with more power as implausible (default 4000)");
  de->add_flag("--json", d->json, "Print the import report as JSON");
  de->callback([d] {
    store::Store s(d->db);
    store::DeepEnOptions o;
    o.min_power_mw = d->min_power_mw;
    o.max_power_mw = d->max_power_mw;
    o.command = command_line("deepen2023", *d);
    const auto report = store::import_deepen2023(s, d->source, o);
    if (d->json) {
      print_json(report.to_json());
    } else {
      std::cout << report.to_text();
    }
    finish(report.errors);
  });

  auto n = std::make_shared<ImportOptions>();
  auto* nm = imp->add_subcommand(
      "nnmeter", "nn-Meter benchmark dataset (jsonl: id, graph in nn-Meter IR, latencies)");
  nm->add_option("file", n->source, "A .jsonl file of the dataset")->required();
  nm->add_option("--db", n->db, "Dataset file (created when absent)")->required();
  nm->add_flag("--json", n->json, "Print the import report as JSON");
  nm->callback([n] {
    store::Store s(n->db);
    store::NnMeterOptions o;
    o.command = command_line("nnmeter", *n);
    const auto report = store::import_nnmeter(s, n->source, o);
    if (n->json) {
      print_json(report.to_json());
    } else {
      std::cout << report.to_text();
    }
    finish(report.errors);
  });
}

}  // namespace

NNJOULE_COMMAND(55, register_import);

}  // namespace nnjoule::cli
