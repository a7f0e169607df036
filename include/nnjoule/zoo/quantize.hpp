#pragma once
// Post-training quantization of a float model into ONNX's QDQ form: per-channel symmetric int8
// weights, asymmetric int8 activations calibrated on synthetic inputs, int32 biases. The zoo
// sits below exec and runs no model itself: the caller passes a runner (the engine or the
// reference executor) for calibration and for the agreement check. See docs/quantization.md.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::zoo {

// One input set: a float vector per graph input (NCHW, Graph::inputs order).
using Feed = std::vector<std::vector<float>>;
// Runs `g` on every feed; returns per feed the outputs in Graph::outputs order (NCHW floats).
using ModelRunner =
    std::function<std::vector<Feed>(const graph::Graph& g, const std::vector<Feed>& feeds)>;

struct QuantizeOptions {
  ModelRunner runner;  // required
  int64_t calibration_inputs = 8;
  int64_t eval_inputs = 8;  // 0: no agreement check (the quantized model is not run)
  uint64_t seed = 0;
};

struct QuantizeReport {
  int64_t folded_batchnorms = 0;   // BatchNormalization nodes folded into the conv before them
  int64_t quantized_ops = 0;       // ops reading int8 through DequantizeLinear
  int64_t quantized_tensors = 0;   // activations given one QuantizeLinear/DequantizeLinear pair
  int64_t quantized_weights = 0;   // weights stored as per-channel int8
  int64_t quantized_biases = 0;    // biases stored as int32
  int64_t calibration_inputs = 0;  // synthetic inputs the activation ranges come from
  int64_t eval_inputs = 0;         // fresh synthetic inputs the agreement is measured on
  // Over the eval inputs, first output: the fraction of rows (last axis) whose argmax agrees
  // with the float model's, and 10 log10(sum f^2 / sum (f - q)^2). NaN without eval inputs.
  double top1_agreement = std::numeric_limits<double>::quiet_NaN();
  double snr_db = std::numeric_limits<double>::quiet_NaN();
};

// The QDQ model of `float_model` (its name gets "-int8"). Throws Error naming the model and
// what is wrong: no runner, a non-float input, non-positive counts, an unmaterialized weight.
graph::Graph quantize_qdq(const graph::Graph& float_model, const QuantizeOptions& options,
                          QuantizeReport* report = nullptr);

// Copy of `g` with every BatchNormalization that is the only reader of a Conv's output folded
// into that conv's weights and bias; `folded` (if given) gets the count.
graph::Graph fold_conv_batchnorm(const graph::Graph& g, int64_t* folded = nullptr);

// The synthetic inputs: uniform in [-1, 1) from nnjoule::Rng, seeded per input set (the
// values exec::random_tensor gives for the same seed). Calibration uses set seeds
// hash_mix(seed, i); evaluation hash_mix(seed ^ 0x5eed, 1000 + i), so the two never share one.
std::vector<Feed> calibration_feeds(const graph::Graph& g, int64_t count, uint64_t seed);
std::vector<Feed> eval_feeds(const graph::Graph& g, int64_t count, uint64_t seed);

// Agreement of `quantized` with `reference` (first output of each feed), as in QuantizeReport.
struct Agreement {
  double top1 = 0;
  double snr_db = 0;
};
Agreement output_agreement(const std::vector<Feed>& reference, const std::vector<Feed>& quantized,
                           int64_t last_dim);

}  // namespace nnjoule::zoo
