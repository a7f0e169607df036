// nnjoule run: execute an ONNX model on the XNNPACK engine and report measured latency.
#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/exec/run.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::cli {
namespace {

struct RunArgs {
  std::string model;
  int threads = 1;
  int runs = 50;
  int warmup = 10;
  bool per_kernel = false;
  bool standalone = false;
  std::vector<std::string> inputs, outputs;
  bool json = false;
  std::string cpus;
  uint64_t seed = 1;
};

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

void run_command(const RunArgs& a) {
  const graph::Graph g = graph::load_onnx(a.model);
  exec::RunOptions o;
  o.compile.threads = a.threads;
  if (!a.cpus.empty()) o.compile.cpus = collect::resolve_cpus(meter::SysFs("/"), a.cpus);
  o.harness.runs = a.runs;
  o.harness.warmup = a.warmup;
  o.per_kernel = a.per_kernel;
  o.standalone = a.standalone;
  o.seed = a.seed;
  o.input_files = {a.inputs.begin(), a.inputs.end()};
  if (a.outputs.size() > g.outputs.size()) {
    fail("{} --output files given; model '{}' has {} output(s)", a.outputs.size(), a.model,
         g.outputs.size());
  }
  const exec::ModelRun r = with_context(a.model, [&] { return exec::run_model(g, o); });
  for (size_t i = 0; i < a.outputs.size(); ++i) exec::write_raw_tensor(a.outputs[i], r.outputs[i]);

  const auto& kt = r.kernels;
  const auto& st = r.standalone;
  const double standalone_sum = r.standalone_sum_ms();
  const std::string label = r.latency.provenance.label();
  std::string cpus = "not pinned";
  if (!r.cpus.empty()) cpus = fmt::format("{}", fmt::join(r.cpus, ","));

  if (a.json) {
    print_json(exec::to_json(r, a.model));
    return;
  }

  std::cout << fmt::format("model: {} ('{}'), {} input(s), {} output(s)\n", printable(a.model),
                           printable(g.name), g.inputs.size(), r.outputs.size());
  std::cout << fmt::format(
      "engine: XNNPACK, {} thread(s), cpus {}, {} steps; activation arena {} (without reuse "
      "{}), weights {}\n",
      a.threads, cpus, r.steps, mib(r.arena_bytes), mib(r.activation_bytes), mib(r.constant_bytes));
  const auto& s = r.latency.latency_ms;
  std::cout << fmt::format("latency_ms, {}, {} runs after {} warm-up:\n", label, s.n, a.warmup);
  std::cout << fmt::format("  median {}  p10 {}  p90 {}  mean {}  cv {:.1f}%\n",
                           format_number(s.median), format_number(s.p10), format_number(s.p90),
                           format_number(s.mean), s.cv * 100);
  if (!kt.empty()) {
    std::vector<std::string> header = {"kernel", "type", "median ms", "share"};
    if (!st.empty()) header.push_back("standalone ms");
    header.push_back("note");
    TextTable t(header);
    double sum = 0;
    for (size_t k = 0; k < kt.size(); ++k) {
      const bool timed = !kt[k].steps.empty();
      if (timed) sum += kt[k].ms.median;
      std::vector<std::string> row = {
          kt[k].name, kt[k].type, timed ? format_number(kt[k].ms.median) : "-",
          timed ? fmt::format("{:.1f}%", 100 * kt[k].ms.median / s.median) : "-"};
      if (!st.empty()) {
        row.push_back(k < st.size() && st[k].ran ? format_number(st[k].compute_ms) : "-");
      }
      row.push_back(kt[k].note);
      t.add_row(row);
    }
    std::cout << fmt::format("per kernel, {} (median of {} runs):\n", label, s.n) << t.render();
    std::cout << fmt::format("sum of kernel medians {} ms; whole-run median {} ms\n",
                             format_number(sum), format_number(s.median));
    if (!st.empty()) {
      std::cout << fmt::format(
          "kernels run standalone: sum {} ms; whole model / sum of standalone kernels {:.3f}\n",
          format_number(standalone_sum), s.median / standalone_sum);
    }
  }
  for (const auto& note : r.notes) std::cout << "note: " << note << "\n";
}

void register_run(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Run an ONNX model on the XNNPACK engine and report its measured latency");
  auto a = std::make_shared<RunArgs>();
  cmd->add_option("model", a->model, "ONNX model file")->required();
  cmd->add_option("--threads", a->threads, "threads (the calling thread included)")
      ->check(ThreadCount());
  cmd->add_option("--runs", a->runs, "timed runs")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", a->warmup, "warm-up runs before timing")
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--per-kernel", a->per_kernel, "break the latency down by kernel");
  cmd->add_flag("--standalone", a->standalone,
                "also run every kernel as a model of its own (implies --per-kernel)");
  cmd->add_option("--input", a->inputs,
                  "raw float32 NCHW file per model input, in input order (default: random)");
  cmd->add_option("--output", a->outputs, "write model outputs as raw float32 NCHW, in order");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->add_option("--cpus", a->cpus,
                  "pin thread i to the i-th CPU of this list (e.g. 0,1 or 2-3), or big / little "
                  "(the clusters of a big.LITTLE CPU)");
  cmd->add_option("--seed", a->seed, "seed of the random inputs");
  cmd->callback([a] { run_command(*a); });
}

}  // namespace

NNJOULE_COMMAND(30, register_run);

}  // namespace nnjoule::cli
