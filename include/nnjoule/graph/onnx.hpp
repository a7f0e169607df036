#pragma once
// ONNX import (libonnx + its shape inference) and export of nnjoule's IR.
#include <filesystem>
#include <string>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

struct ImportOptions {
  bool check_with_onnx_inference = true;  // cross-check our shapes against onnx's
  // Off: an op nnjoule does not know is an error listing every such op and node. On: such a
  // node is kept as it is, its output shapes taken from onnx's shape inference (they must be
  // static), and Graph::notes lists it; kernel detection reports it as unknown:<OpType>.
  // Ops of other domains keep a qualified type ("com.example.Op").
  bool keep_unknown_ops = false;
};

// Loads an ONNX file into the canonical IR: constant shape chains folded, legacy op forms
// rewritten (see ops.hpp), a symbolic batch dimension taken as 1 (recorded in Graph::notes).
// Throws Error with one line naming the file and the node, tensor or field at fault.
Graph load_onnx(const std::filesystem::path& path, const ImportOptions& options = {});
Graph load_onnx_bytes(const std::string& bytes, const std::string& source_name,
                      const ImportOptions& options = {});

struct ExportOptions {
  int64_t opset = 13;
};
// Writes a model that passes onnx::checker::check_model; weights must be materialized.
void save_onnx(const Graph& g, const std::filesystem::path& path,
               const ExportOptions& options = {});
std::string to_onnx_bytes(const Graph& g, const ExportOptions& options = {});

}  // namespace nnjoule::graph
