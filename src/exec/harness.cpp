#include "nnjoule/exec/harness.hpp"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"

namespace nnjoule::exec {

Provenance wall_clock() {
  return Provenance{Origin::kMeasured, "wall clock, steady_clock"};
}

LatencyResult measure_latency(CompiledModel& m, const HarnessOptions& o) {
  if (o.runs < 1) fail("runs must be at least 1, got {}", o.runs);
  if (o.warmup < 0) fail("warm-up runs must not be negative, got {}", o.warmup);
  LatencyResult r;
  r.threads = m.threads();
  r.cpus = m.cpus();
  r.warmup = o.warmup;
  const size_t n_steps = m.steps().size();
  std::vector<double> step(n_steps);
  for (int i = 0; i < o.warmup; ++i) {
    if (o.per_step)
      m.run_timed(step);
    else
      m.run();
  }
  if (o.per_step) r.step_ms.assign(n_steps, std::vector<double>(static_cast<size_t>(o.runs)));
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < o.runs; ++i) {
    const auto t0 = clock::now();
    if (o.per_step)
      m.run_timed(step);
    else
      m.run();
    const auto t1 = clock::now();
    r.samples_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (o.per_step)
      for (size_t s = 0; s < n_steps; ++s) r.step_ms[s][static_cast<size_t>(i)] = step[s];
  }
  r.latency_ms = stats::summarize(r.samples_ms);
  return r;
}

std::vector<Tensor> random_inputs(const CompiledModel& m, uint64_t seed) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < m.inputs().size(); ++i) {
    in.push_back(random_tensor(m.inputs()[i].shape, seed + i));
  }
  return in;
}

std::vector<Tensor> read_inputs(const CompiledModel& m,
                                const std::vector<std::filesystem::path>& files) {
  if (files.size() != m.inputs().size()) {
    fail("model '{}' has {} input(s), {} input file(s) given", m.name(), m.inputs().size(),
         files.size());
  }
  std::vector<Tensor> in;
  for (size_t i = 0; i < files.size(); ++i) {
    in.push_back(read_raw_tensor(files[i], m.inputs()[i].shape, m.inputs()[i].name));
  }
  return in;
}

void set_inputs(CompiledModel& m, const std::vector<Tensor>& inputs) {
  if (inputs.size() != m.inputs().size()) {
    fail("model '{}' has {} inputs, {} given", m.name(), m.inputs().size(), inputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i) m.set_input(i, inputs[i].data);
}

std::vector<KernelTiming> per_kernel(const CompiledModel& m, const LatencyResult& r,
                                     const std::vector<kernels::Kernel>& ks) {
  const auto& steps = m.steps();
  if (r.step_ms.size() != steps.size()) {
    fail("per-kernel timing needs a per-step measurement of the same model");
  }
  std::map<size_t, size_t> kernel_of;  // node -> kernel
  for (size_t k = 0; k < ks.size(); ++k)
    for (size_t n : ks[k].nodes) kernel_of[n] = k;
  std::vector<KernelTiming> out(ks.size());
  for (size_t k = 0; k < ks.size(); ++k) {
    out[k].name = ks[k].name;
    out[k].type = ks[k].type;
  }
  KernelTiming io{"io:layout", "layout", {}, {}, {}, ""};
  std::map<size_t, size_t> computed_by;  // node -> step that computes it
  for (size_t s = 0; s < steps.size(); ++s) {
    for (size_t n : steps[s].nodes) computed_by[n] = s;
    if (steps[s].anchor < 0) {
      io.steps.push_back(s);
      continue;
    }
    auto it = kernel_of.find(static_cast<size_t>(steps[s].anchor));
    if (it == kernel_of.end()) {
      fail("step '{}' computes node {} that no kernel holds", steps[s].name, steps[s].anchor);
    }
    out[it->second].steps.push_back(s);
  }
  const size_t runs = r.samples_ms.size();
  auto finish = [&](KernelTiming& t) {
    t.samples_ms.assign(runs, 0.0);
    for (size_t s : t.steps)
      for (size_t i = 0; i < runs; ++i) t.samples_ms[i] += r.step_ms[s][i];
    t.ms = stats::summarize(t.samples_ms);
  };
  for (size_t k = 0; k < ks.size(); ++k) {
    KernelTiming& t = out[k];
    if (!t.steps.empty()) {
      finish(t);
      continue;
    }
    // No step of its own: say where its nodes went.
    std::set<std::string> hosts;
    for (size_t n : ks[k].nodes) {
      auto it = computed_by.find(n);
      if (it == computed_by.end()) continue;
      const long a = steps[it->second].anchor;
      if (a >= 0 && kernel_of.count(static_cast<size_t>(a))) hosts.insert(ks[kernel_of[a]].name);
    }
    t.note = hosts.empty() ? "no computation of its own (a view or a compile-time constant)"
                           : fmt::format("fused into {}", fmt::join(hosts, ", "));
  }
  if (!io.steps.empty()) {
    finish(io);
    out.push_back(std::move(io));
  }
  return out;
}

graph::Graph kernel_graph(const graph::Graph& g, const kernels::Kernel& k) {
  graph::Graph s;
  s.name = g.name + ":" + k.name;
  s.opset = g.opset;
  s.inputs = k.inputs;
  s.outputs = k.outputs;
  auto keep_value = [&](const std::string& t) {
    if (!t.empty()) s.values[t] = g.value(t);
  };
  for (const auto& t : k.inputs) keep_value(t);
  for (size_t n : k.nodes) {
    if (n >= g.nodes.size()) fail("kernel '{}' names node {} beyond the graph", k.name, n);
    const auto& node = g.nodes[n];
    s.nodes.push_back(node);
    for (const auto& t : node.inputs) {
      keep_value(t);
      if (!t.empty() && g.is_constant(t)) s.initializers[t] = g.initializers.at(t);
    }
    for (const auto& t : node.outputs) keep_value(t);
  }
  s.validate();
  return s;
}

std::vector<StandaloneTiming> measure_standalone(const graph::Graph& g,
                                                 const std::vector<kernels::Kernel>& ks,
                                                 const CompileOptions& compile_options,
                                                 const HarnessOptions& options, uint64_t seed) {
  std::vector<StandaloneTiming> out;
  HarnessOptions o = options;
  o.per_step = true;
  for (const auto& k : ks) {
    StandaloneTiming t{k.name, k.type};
    auto sub = kernel_graph(g, k);
    auto m = with_context(fmt::format("kernel '{}'", k.name),
                          [&] { return compile(sub, compile_options); });
    bool computes = false;
    for (const auto& s : m.steps()) computes |= !s.io;
    if (computes) {
      set_inputs(m, random_inputs(m, seed));
      const auto r = measure_latency(m, o);
      std::vector<double> compute(r.samples_ms.size(), 0.0);
      for (size_t s = 0; s < m.steps().size(); ++s) {
        if (m.steps()[s].io) continue;
        for (size_t i = 0; i < compute.size(); ++i) compute[i] += r.step_ms[s][i];
      }
      t.ran = true;
      t.compute_ms = stats::median(compute);
      t.total_ms = r.latency_ms;
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace nnjoule::exec
