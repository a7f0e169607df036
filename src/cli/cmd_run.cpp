// nnjoule run: execute an ONNX model on the XNNPACK engine and report measured latency.
#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/detect.hpp"

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

nlohmann::json summary_json(const stats::Summary& s) {
  return {{"median", s.median}, {"p10", s.p10}, {"p90", s.p90}, {"mean", s.mean},
          {"min", s.min},       {"max", s.max}, {"cv", s.cv},   {"n", s.n}};
}

void run_command(const RunArgs& a) {
  const graph::Graph g = graph::load_onnx(a.model);
  exec::CompileOptions co;
  co.threads = a.threads;
  if (!a.cpus.empty()) co.cpus = exec::parse_cpu_list(a.cpus);
  auto m = with_context(a.model, [&] { return exec::compile(g, co); });

  std::vector<exec::Tensor> inputs;
  if (a.inputs.empty()) {
    inputs = exec::random_inputs(m, a.seed);
  } else {
    inputs = exec::read_inputs(m, {a.inputs.begin(), a.inputs.end()});
  }
  if (a.outputs.size() > m.outputs().size()) {
    fail("{} --output files given; model '{}' has {} output(s)", a.outputs.size(), a.model,
         m.outputs().size());
  }
  exec::set_inputs(m, inputs);
  exec::HarnessOptions ho;
  ho.runs = a.runs;
  ho.warmup = a.warmup;
  ho.per_step = a.per_kernel || a.standalone;
  const auto r = exec::measure_latency(m, ho);
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    exec::write_raw_tensor(a.outputs[i], m.output_tensor(i));
  }

  std::vector<kernels::Kernel> ks;
  std::vector<exec::KernelTiming> kt;
  std::vector<exec::StandaloneTiming> st;
  if (ho.per_step) {
    ks = kernels::detect_kernels(g);
    kt = exec::per_kernel(m, r, ks);
  }
  if (a.standalone) st = exec::measure_standalone(g, ks, co, ho, a.seed);
  double standalone_sum = 0;
  for (const auto& s : st) standalone_sum += s.ran ? s.compute_ms : 0.0;
  const std::string label = r.provenance.label();
  std::string cpus = "not pinned";
  if (!co.cpus.empty()) cpus = fmt::format("{}", fmt::join(co.cpus, ","));

  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["graph"] = g.name;
    j["threads"] = a.threads;
    j["cpus"] = co.cpus;
    j["runs"] = a.runs;
    j["warmup"] = a.warmup;
    j["steps"] = m.steps().size();
    j["arena_bytes"] = m.arena_bytes();
    j["activation_bytes"] = m.activation_bytes();
    j["constant_bytes"] = m.constant_bytes();
    j["notes"] = m.notes();
    j["latency_ms"] = summary_json(r.latency_ms);
    j["latency_ms"]["provenance"] = label;
    j["samples_ms"] = r.samples_ms;
    if (!kt.empty()) {
      nlohmann::json arr = nlohmann::json::array();
      for (size_t k = 0; k < kt.size(); ++k) {
        nlohmann::json e = {{"name", kt[k].name}, {"type", kt[k].type}};
        if (kt[k].steps.empty()) {
          e["note"] = kt[k].note;
        } else {
          e["latency_ms"] = summary_json(kt[k].ms);
          e["latency_ms"]["provenance"] = label;
        }
        if (k < st.size() && st[k].ran) {
          e["standalone_ms"] = {{"median", st[k].compute_ms}, {"provenance", label}};
        }
        arr.push_back(e);
      }
      j["kernels"] = arr;
    }
    if (!st.empty()) {
      j["standalone_sum_ms"] = standalone_sum;
      j["whole_over_standalone"] = r.latency_ms.median / standalone_sum;
    }
    print_json(j);
    return;
  }

  std::cout << fmt::format("model: {} ('{}'), {} input(s), {} output(s)\n", printable(a.model),
                           printable(g.name), m.inputs().size(), m.outputs().size());
  std::cout << fmt::format(
      "engine: XNNPACK, {} thread(s), cpus {}, {} steps; activation arena {} (without reuse "
      "{}), weights {}\n",
      a.threads, cpus, m.steps().size(), mib(m.arena_bytes()), mib(m.activation_bytes()),
      mib(m.constant_bytes()));
  const auto& s = r.latency_ms;
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
  for (const auto& note : m.notes()) std::cout << "note: " << note << "\n";
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
  cmd->add_option("--cpus", a->cpus, "pin thread i to the i-th CPU of this list (e.g. 0,1 or 2-3)");
  cmd->add_option("--seed", a->seed, "seed of the random inputs");
  cmd->callback([a] { run_command(*a); });
}

}  // namespace

NNJOULE_COMMAND(30, register_run);

}  // namespace nnjoule::cli
