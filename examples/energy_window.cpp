// Measures the energy of a piece of this program's own work (20 inferences of a small
// MobileNetV2 on nnjoule's engine) with the best meter this machine has, then predicts the
// same model's energy with a predictor bundle, if one is given.
//
//   energy_window [BUNDLE]        (a bundle: nnjoule train --db DATASET --out BUNDLE)
#include <cstdio>
#include <exception>
#include <vector>

#include "nnjoule/collect/session.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/zoo/zoo.hpp"

using namespace nnjoule;

int main(int argc, char** argv) try {
  const graph::Graph model = zoo::build_model({.family = "mobilenetv2", .resolution = 96});

  // Every live sensor, else the labelled estimate; the work runs in this process.
  collect::Session session(collect::MeterSetup{});
  for (const auto& note : session.notes()) std::printf("note: %s\n", note.c_str());
  meter::Sampler& sampler = session.sampler();

  exec::CompiledModel compiled = exec::compile(model);
  const std::vector<float> input(3 * 96 * 96, 0.5f);
  compiled.set_input(0, input);
  sampler.begin_window("work");
  for (int i = 0; i < 20; ++i) compiled.run();
  const meter::EnergyWindow window = sampler.end_window("work");
  session.stop();

  const meter::MeterEnergy& e = window.primary();
  std::printf("20 inferences of %s: %.1f ms, %.2f mJ, %.0f mW [%s]\n", model.name.c_str(),
              window.duration_ms, e.energy_mj, e.avg_power_mw, e.provenance.label().c_str());

  if (argc < 2) {
    std::printf("no predictor bundle given: nothing predicted\n");
    return 0;
  }
  const predict::Predictor predictor = predict::Predictor::load(argv[1]);
  const predict::ModelPrediction p = predictor.predict(model);
  std::printf("one inference, %s: ", predictor.provenance().label().c_str());
  if (p.total.energy_mj) std::printf("%.3f mJ", *p.total.energy_mj);
  if (p.total.latency_ms) std::printf(", %.3f ms", *p.total.latency_ms);
  std::printf(" over %zu kernels (%zu extrapolated)\n", p.kernels.size(), p.extrapolated_kernels);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "energy_window: %s\n", e.what());
  return 1;
}
