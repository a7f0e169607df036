// nnjoule meters: which power meters this machine has, what they can see, and what is missing.
#include <iostream>

#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/meter/report.hpp"

namespace nnjoule::cli {
namespace {

struct Options {
  MeterOptions meters;
  bool json = false;
  std::optional<double> probe_ms;
};

void run(const Options& o) {
  const auto survey =
      meter::survey_meters(collect::discover_options(o.meters.setup()),
                           o.probe_ms ? std::optional<double>(*o.probe_ms / 1e3) : std::nullopt);
  if (o.json)
    print_json(meter::to_json(survey));
  else
    std::cout << meter::format_meters(survey);
}

void register_meters(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "meters",
      "List the power meters found (domains, update period, resolution) and why others "
      "are missing");
  o->meters.add_to(cmd);
  cmd->add_flag("--json", o->json, "Print JSON (format in docs/cli.md)");
  cmd->add_option("--probe-ms", o->probe_ms,
                  "How long to poll each meter to measure its update period (default 500, 5000 "
                  "with a battery gauge)")
      ->check(NumberIn(0, 600000, "ms", true));
  cmd->callback([o] { run(*o); });
}

}  // namespace

NNJOULE_COMMAND(40, register_meters);

}  // namespace nnjoule::cli
