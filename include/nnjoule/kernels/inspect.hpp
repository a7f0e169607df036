#pragma once
// The kernel table of a model as one record: what `nnjoule inspect --json` prints and Python's
// nnjoule.inspect returns (format in docs/cli.md).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/detect.hpp"

namespace nnjoule::kernels {

struct Inspection {
  std::string model;  // the file
  graph::Graph graph;
  FusionRules rules = FusionRules::xnnpack_default();
  std::vector<Kernel> kernels;
};

// Loads an ONNX file (ops nnjoule does not know are kept as unknown:<Op> kernels, never dropped)
// and splits it under the rules in `rules_file` (nn-Meter's fusion_rules.json format; empty:
// the built-in XNNPACK rules).
Inspection inspect_model(const std::string& model, const std::string& rules_file = "");

nlohmann::json to_json(const Inspection& inspection);

}  // namespace nnjoule::kernels
