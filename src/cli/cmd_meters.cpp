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
  const auto found = meter::discover_meters(collect::discover_options(o.meters.setup()));
  std::vector<std::shared_ptr<meter::Meter>> live;
  bool battery = false;
  for (const auto& f : found) {
    if (f.status != meter::Finding::Status::kFound) continue;
    live.push_back(f.meter);
    battery = battery || f.kind == "battery";
  }
  // Battery gauges update about once a second or slower: give them time to show it.
  const double probe_s = o.probe_ms ? *o.probe_ms / 1e3 : battery ? 5.0 : 0.5;
  const auto stats = meter::probe_meters(live, probe_s);
  std::vector<std::optional<meter::MeterStats>> per_finding;
  size_t k = 0;
  for (const auto& f : found)
    per_finding.push_back(f.status == meter::Finding::Status::kFound
                              ? std::optional<meter::MeterStats>(stats.at(k++))
                              : std::nullopt);
  if (o.json)
    print_json(meter::meters_json(found, per_finding, probe_s));
  else
    std::cout << meter::format_meters(found, per_finding, probe_s);
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
