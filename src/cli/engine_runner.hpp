#pragma once
// The zoo's quantizer runs models through a runner it is given (the zoo sits below exec); the
// CLI gives it the XNNPACK engine, one compile per graph, one thread.
#include <vector>

#include "nnjoule/exec/engine.hpp"
#include "nnjoule/zoo/quantize.hpp"

namespace nnjoule::cli {

inline std::vector<zoo::Feed> run_with_engine(const graph::Graph& g,
                                              const std::vector<zoo::Feed>& feeds) {
  exec::CompiledModel m = exec::compile(g);
  std::vector<zoo::Feed> out;
  for (const auto& f : feeds) {
    for (size_t i = 0; i < f.size(); ++i) m.set_input(i, f[i]);
    m.run();
    zoo::Feed o;
    for (size_t k = 0; k < g.outputs.size(); ++k) {
      const auto v = m.output(k);
      o.emplace_back(v.begin(), v.end());
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace nnjoule::cli
