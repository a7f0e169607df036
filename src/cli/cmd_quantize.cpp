// nnjoule quantize: post-training int8 quantization of a float ONNX model into QDQ form.
#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/zoo/export.hpp"
#include "nnjoule/zoo/quantize.hpp"

namespace nnjoule::cli {
namespace {

struct QuantizeArgs {
  std::string model;
  std::string output;
  int64_t calibration = 8;
  int64_t eval = 8;
  uint64_t seed = 0;
  bool json = false;
};

void run_quantize(const QuantizeArgs& a) {
  const graph::Graph g = graph::load_onnx(a.model);
  zoo::QuantizeOptions o{.runner = exec::run_feeds,
                         .calibration_inputs = a.calibration,
                         .eval_inputs = a.eval,
                         .seed = a.seed};
  zoo::QuantizeReport r;
  const graph::Graph q = with_context(a.model, [&] { return zoo::quantize_qdq(g, o, &r); });
  graph::save_onnx(q, a.output);
  const bool evaluated = r.eval_inputs > 0;
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"output", a.output},
                        {"dtype", "int8"},
                        {"folded_batchnorms", r.folded_batchnorms},
                        {"quantized_ops", r.quantized_ops},
                        {"quantized_tensors", r.quantized_tensors},
                        {"quantized_weights", r.quantized_weights},
                        {"quantized_biases", r.quantized_biases},
                        {"calibration_inputs", r.calibration_inputs},
                        {"eval_inputs", r.eval_inputs}};
    if (evaluated) {
      j["top1_agreement"] = r.top1_agreement;
      j["snr_db"] = r.snr_db;
      j["agreement_origin"] = zoo::agreement_origin(r);
    }
    print_json(j);
    return;
  }
  std::cout << fmt::format(
      "wrote {} (QDQ, int8): {} ops quantized, {} activations, {} weights (per-channel "
      "int8), {} biases (int32), {} batch norms folded\n",
      a.output, r.quantized_ops, r.quantized_tensors, r.quantized_weights, r.quantized_biases,
      r.folded_batchnorms);
  if (evaluated) {
    std::cout << fmt::format("top-1 agreement {:.3f}, SNR {:.1f} dB of output '{}' ({})\n",
                             r.top1_agreement, r.snr_db, g.outputs.at(0), zoo::agreement_origin(r));
  } else {
    std::cout << fmt::format(
        "agreement not measured (--eval 0); activation ranges from {} synthetic inputs\n",
        r.calibration_inputs);
  }
}

void register_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Quantize a float ONNX model to int8 (QDQ form, calibrated on synthetic inputs)");
  auto a = std::make_shared<QuantizeArgs>();
  cmd->add_option("model", a->model, "float ONNX model file")->required();
  cmd->add_option("-o,--output", a->output, "QDQ ONNX file to write")->required();
  cmd->add_option("--calibration", a->calibration,
                  "synthetic inputs the activation ranges come from (default 8)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  cmd->add_option("--eval", a->eval,
                  "fresh synthetic inputs the int8/fp32 agreement is measured on (default 8; 0: "
                  "none)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000}));
  cmd->add_option("--seed", a->seed, "seed of the synthetic inputs (default 0)");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a] { run_quantize(*a); });
}

}  // namespace

NNJOULE_COMMAND(25, register_quantize);

}  // namespace nnjoule::cli
