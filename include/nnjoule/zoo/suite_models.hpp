#pragma once
// The application suite's reference models (the DeepEn2023 study's DNN1..DNN12), rebuilt with
// the same architectures and input sizes and seeded random weights. See docs/scoring.md for
// every simplification.
#include <cstdint>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::zoo {

struct SuiteModelInfo {
  std::string name;         // "ssd-mobilenetv2-300"
  std::string title;        // "MobileNetV2-SSD 300x300"
  std::string application;  // "detection", "classification", "super-resolution", ...
  std::string note;         // how it differs from the study's TFLite model, if it does
};

// Every suite model, in a fixed order.
const std::vector<SuiteModelInfo>& suite_models();
const SuiteModelInfo& suite_model(const std::string& name);  // throws Error listing the names

// Inputs and outputs per application:
//   image models        input [1,3,H,W] (pixels normalised by the pipeline)
//   detection           outputs boxes [1,N,4] (dy,dx,dh,dw per anchor), scores [1,N,91] logits
//   classification      output [1,1000] logits
//   super-resolution    output [1,3,4H,4W] in [0,1] (no clamp inside the model)
//   segmentation        output [1,21,H,W] class logits
//   question answering  input [1,384,128] word embeddings (looked up by the pipeline: the engine
//                       takes float inputs only), output [1,384,2] start/end logits
//   speech              input [1,1,98,40] spectrogram frames, output [1,12] logits
graph::Graph build_suite_model(const std::string& name, uint64_t seed = 0,
                               bool materialize_weights = true);

// SSD anchor layout of a detection suite model: feature-map sides and anchors per location.
struct SsdLayout {
  std::vector<int64_t> feature_maps;
  std::vector<int64_t> anchors_per_location;
};
SsdLayout ssd_layout(const std::string& name);

// MobileBERT's vocabulary and word-embedding width.
constexpr int64_t kMobileBertVocab = 30522;
constexpr int64_t kMobileBertEmbedding = 128;
constexpr int64_t kMobileBertSequence = 384;

}  // namespace nnjoule::zoo
