// Measuring a model: the protocol's workload is one inference on the execution engine.
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/harness.hpp"

namespace nnjoule::collect {

Measurement measure_model(const Context& ctx, const graph::Graph& g, const std::string& name,
                          const ModelOptions& model, ProtocolOptions options) {
  if (model.threads < 1) fail("{}: threads must be at least 1 (got {})", name, model.threads);
  exec::CompileOptions co;
  co.threads = model.threads;
  co.cpus = model.cpus;
  auto compiled = with_context(name, [&] { return exec::compile(g, co); });
  exec::set_inputs(compiled, exec::random_inputs(compiled, model.seed));
  options.threads = model.threads;
  Measurement m = measure_workload(
      ctx,
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) compiled.run();
      },
      name, options);
  if (!model.cpus.empty()) {
    // The engine pins its threads; the process's own affinity says less than that.
    m.device.affinity = model.cpus;
    m.device.cores_used = std::min<int>(model.threads, static_cast<int>(model.cpus.size()));
  }
  for (const auto& note : compiled.notes()) m.notes.push_back("engine: " + note);
  return m;
}

}  // namespace nnjoule::collect
