#pragma once
// The collection runner of this machine: compiles a graph on the XNNPACK engine (src/exec) and
// measures it with the measurement protocol (src/bench) and the chosen meters. One idle baseline
// is shared by many measurements (re-taken every `idle_every_s`), so kernels of a millisecond
// do not each pay seconds of idle time; dynamic energy is total minus that baseline.
#include <memory>

#include "nnjoule/collect/collection.hpp"
#include "nnjoule/collect/protocol.hpp"

namespace nnjoule::collect {

struct RunnerOptions {
  int threads = 1;
  std::vector<int> cpus;      // pin the engine's threads (empty: not pinned)
  ProtocolOptions protocol;   // per measurement; its idle_s is not used
  double idle_s = 2.0;        // length of the shared idle baseline (each side; 0: none)
  double idle_every_s = 600;  // re-take the baseline after this long (0: only once)
  uint64_t input_seed = 1;
  // Time a fixed reference kernel just before and after every measurement (~30 ms) and record
  // it with the measurement: a shared host's speed drifts over seconds, and the reference lets
  // a dataset's reader put every measurement at the same host speed (docs/protocol.md).
  bool host_reference = true;
};

// "quick": short windows and a loose 5% CI target (a first dataset in minutes);
// "standard": the protocol's defaults with a 30 s cap per measurement. Throws Error otherwise.
ProtocolOptions protocol_profile(const std::string& name);

// The host as a dataset device: host name, CPU model, architecture, cores, OS and kernel, with
// XNNPACK as the runtime.
store::Device describe_host(const Context& ctx);

// The context's sampler must be running while the runner measures.
std::unique_ptr<Runner> make_runner(const Context& ctx, const RunnerOptions& options);

}  // namespace nnjoule::collect
