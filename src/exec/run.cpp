#include "nnjoule/exec/run.hpp"

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"

namespace nnjoule::exec {
namespace {

nlohmann::json summary_json(const stats::Summary& s) {
  return {{"median", s.median}, {"p10", s.p10}, {"p90", s.p90}, {"mean", s.mean},
          {"min", s.min},       {"max", s.max}, {"cv", s.cv},   {"n", s.n}};
}

}  // namespace

double ModelRun::standalone_sum_ms() const {
  double sum = 0;
  for (const auto& s : standalone) sum += s.ran ? s.compute_ms : 0.0;
  return sum;
}

ModelRun run_model(const graph::Graph& g, const RunOptions& o) {
  if (!o.inputs.empty() && !o.input_files.empty())
    fail("model '{}': give inputs as tensors or as files, not both", g.name);
  CompiledModel m = compile(g, o.compile);
  if (!o.inputs.empty()) {
    set_inputs(m, o.inputs);
  } else if (!o.input_files.empty()) {
    set_inputs(m, read_inputs(m, o.input_files));
  } else {
    set_inputs(m, random_inputs(m, o.seed));
  }
  HarnessOptions ho = o.harness;
  ho.per_step = ho.per_step || o.per_kernel || o.standalone;

  ModelRun r;
  r.latency = measure_latency(m, ho);
  r.graph = g.name;
  r.threads = o.compile.threads;
  r.cpus = o.compile.cpus;
  r.runs = ho.runs;
  r.warmup = ho.warmup;
  r.steps = m.steps().size();
  r.arena_bytes = m.arena_bytes();
  r.activation_bytes = m.activation_bytes();
  r.constant_bytes = m.constant_bytes();
  r.notes = m.notes();
  r.output_info = m.outputs();
  for (size_t i = 0; i < m.outputs().size(); ++i) r.outputs.push_back(m.output_tensor(i));
  if (ho.per_step) {
    const auto ks = kernels::detect_kernels(g);
    r.kernels = per_kernel(m, r.latency, ks);
    if (o.standalone) r.standalone = measure_standalone(g, ks, o.compile, ho, o.seed);
  }
  return r;
}

nlohmann::json to_json(const ModelRun& r, const std::string& model) {
  const std::string label = r.latency.provenance.label();
  nlohmann::json j;
  j["model"] = model;
  j["graph"] = r.graph;
  j["threads"] = r.threads;
  j["cpus"] = r.cpus;
  j["runs"] = r.runs;
  j["warmup"] = r.warmup;
  j["steps"] = r.steps;
  j["arena_bytes"] = r.arena_bytes;
  j["activation_bytes"] = r.activation_bytes;
  j["constant_bytes"] = r.constant_bytes;
  j["notes"] = r.notes;
  j["latency_ms"] = summary_json(r.latency.latency_ms);
  j["latency_ms"]["provenance"] = label;
  j["samples_ms"] = r.latency.samples_ms;
  if (!r.kernels.empty()) {
    nlohmann::json arr = nlohmann::json::array();
    for (size_t k = 0; k < r.kernels.size(); ++k) {
      const auto& kt = r.kernels[k];
      nlohmann::json e = {{"name", kt.name}, {"type", kt.type}};
      if (kt.steps.empty()) {
        e["note"] = kt.note;
      } else {
        e["latency_ms"] = summary_json(kt.ms);
        e["latency_ms"]["provenance"] = label;
      }
      if (k < r.standalone.size() && r.standalone[k].ran)
        e["standalone_ms"] = {{"median", r.standalone[k].compute_ms}, {"provenance", label}};
      arr.push_back(e);
    }
    j["kernels"] = arr;
  }
  if (!r.standalone.empty()) {
    j["standalone_sum_ms"] = r.standalone_sum_ms();
    j["whole_over_standalone"] = r.latency.latency_ms.median / r.standalone_sum_ms();
  }
  return j;
}

}  // namespace nnjoule::exec
