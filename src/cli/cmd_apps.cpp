// nnjoule apps --suite NAME|FILE --db FILE: runs an application suite under the measurement
// protocol and stores APC, ECI and latency per configuration.
#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/collect/apps.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"

namespace nnjoule::cli {
namespace {

struct AppsArgs {
  MeterOptions meters;
  std::vector<std::string> meter_names;
  std::string suite, db;
  std::vector<int> threads;
  std::optional<double> tdp_w;
  uint64_t seed = 0;
  std::optional<double> time_cap_s, idle_s;
  bool list = false;
  std::string command_line;
};

void list_suite(const zoo::Suite& s) {
  TextTable t({"configuration", "model", "application", "threads", "status"});
  for (const auto& c : s.configs()) {
    const auto& e = s.entry(c.model);
    const auto why = s.unsupported_reason(c);
    t.add_row(
        {c.label(), e.title, std::string(zoo::application_name(e.application)),
         s.delegate(c.delegate).threads > 0 ? std::to_string(s.delegate(c.delegate).threads) : "-",
         why.empty() ? "runs" : why});
  }
  std::cout << "suite " << s.name << "\n" << t.render();
}

void run_apps(const AppsArgs& a) {
  auto suite = zoo::load_suite(a.suite);
  if (!a.threads.empty()) suite = zoo::with_threads(suite, a.threads);
  if (a.list) return list_suite(suite);
  if (a.db.empty()) fail("apps: give --db FILE to store the results (or --list)");

  // Meters first: a bad device file or meter name then creates no dataset file.
  collect::Session session(a.meters.setup(a.meter_names));  // the suite runs in this process
  store::Store db(a.db);
  std::optional<double> tdp = a.tdp_w;
  std::string tdp_source = "nnjoule apps --tdp";
  if (!tdp && session.config().estimate.tdp_w) {
    tdp = session.config().estimate.tdp_w;
    tdp_source = "device file " + a.meters.device();
  }
  auto opts = collect::quick_suite_options();
  opts.seed = a.seed;
  if (a.time_cap_s) opts.protocol.time_cap_s = *a.time_cap_s;
  if (a.idle_s) opts.protocol.idle_s = *a.idle_s;
  opts.progress = [](const std::string& s) { std::cerr << "apps: " << s << "\n"; };
  for (const auto& n : session.notes()) std::cerr << "apps: " << n << "\n";
  const auto provenance = session.provenance();
  std::cerr << "apps: suite " << suite.name << ", " << suite.configs().size()
            << " configurations, meter " << provenance.label() << "\n";
  const collect::SuiteRun run = collect::run_suite(suite, db, session.context(), provenance, opts,
                                                   a.command_line, tdp, tdp_source);
  session.stop();

  TextTable t({"configuration", "APC W", "ECI J", "latency ms", "pre ms", "infer ms", "post ms",
               "origin / status"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kLeft});
  for (const auto& r : run.results) {
    if (!r.unsupported.empty() || !r.skipped.empty()) {
      t.add_row({r.config.label(), "", "", "", "", "", "",
                 r.unsupported.empty() ? r.skipped : r.unsupported});
      continue;
    }
    const auto& w = r.whole;
    auto stage = [&](size_t i) { return format_number(r.stages.at(i).latency_ms); };
    t.add_row({r.config.label(), format_number(w.avg_power_mw / 1000),
               w.energy_per_inference_mj ? format_number(*w.energy_per_inference_mj / 1000) : "n/a",
               w.latency_ms ? format_number(*w.latency_ms) : "n/a", stage(0), stage(1), stage(2),
               w.provenance.label() + (w.converged ? "" : ", " + w.stop_reason)});
  }
  std::cout << fmt::format("suite {} on {} (run {}, stored in {})\n", suite.name, run.device.name,
                           run.run_id, a.db)
            << t.render()
            << "APC and ECI are per whole pipeline run (pre-processing, inference, "
               "post-processing); latencies measured with the wall clock.\n";
}

void register_apps(CLI::App& app) {
  auto a = std::make_shared<AppsArgs>();
  auto* cmd = app.add_subcommand("apps", "Run an application suite and store APC, ECI and latency");
  // The old name still works: scripts written against it keep running.
  cmd->alias("bench");
  cmd->add_option("--suite", a->suite, "built-in suite (deepen2023) or a suite file (JSON)")
      ->required();
  cmd->add_option("--db", a->db, "nnjoule database to store the results in");
  cmd->add_option("--threads", a->threads, "CPU delegates to run, by thread count (1,4)")
      ->delimiter(',')
      ->check(ThreadCount());
  cmd->add_option("--tdp", a->tdp_w, "this machine's TDP in W, recorded for PCS")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed, "seed of the models' weights and the generated inputs");
  cmd->add_option("--time-cap", a->time_cap_s,
                  "seconds per configuration before the protocol stops repeating")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--idle", a->idle_s,
                  "seconds of idle baseline before and after each configuration")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--list", a->list, "list the suite's configurations and exit");
  a->meters.add_to(cmd);
  cmd->add_option(
         "--meter", a->meter_names,
         "meters to use, the first is the primary; default: every live sensor, else the estimate")
      ->delimiter(',');
  cmd->callback([a, &app] {
    a->command_line = "nnjoule apps --suite " + a->suite + (a->db.empty() ? "" : " --db " + a->db);
    (void)app;
    run_apps(*a);
  });
}

}  // namespace
NNJOULE_COMMAND(55, register_apps);
}  // namespace nnjoule::cli
