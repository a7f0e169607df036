#pragma once
// Writes zoo models as ONNX files with a manifest.json describing them (docs/cli.md).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnjoule/zoo/quantize.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::zoo {

struct ExportRequest {
  std::vector<std::string> families;  // family names; "all" stands for every family
  int64_t variants = 0;               // 0: the base model; N: variants 0..N-1 of `seed`
  uint64_t seed = 0;
  int64_t resolution = 0;  // 0: the family default (or drawn, with sample_resolution)
  bool sample_resolution = false;
  std::filesystem::path dir;
  // "fp32" (the models as built) or "int8": each model quantized into QDQ form by
  // quantize_qdq with `quantize` (its runner is required then), written as <name>-int8.onnx.
  std::string dtype = "fp32";
  QuantizeOptions quantize;
};

struct ExportedModel {
  std::string name;  // graph name, also the file stem
  std::string family;
  uint64_t seed = 0;
  int64_t variant = -1;  // -1: the base model
  int64_t resolution = 0;
  std::string file;          // file name inside the directory
  std::string content_hash;  // FNV-1a 64 of the ONNX bytes, 16 hex digits
  ModelCounts counts;
  std::string dtype = "fp32";              // "fp32" or "int8"
  std::optional<QuantizeReport> quantize;  // int8: how it was quantized and how it agrees
};

// Builds every requested model with materialized weights, writes DIR/<name>.onnx and merges the
// entries into DIR/manifest.json (entries of other names already there are kept). Calls
// `progress` after each file. Throws Error naming the family, file or field at fault; a
// manifest that exists but cannot be read is an error (nothing is overwritten then).
std::vector<ExportedModel> export_models(
    const ExportRequest& request, const std::function<void(const ExportedModel&)>& progress = {});

// Where an int8 entry's agreement numbers come from ("measured: ... on N synthetic inputs").
std::string agreement_origin(const QuantizeReport& q);

// The manifest entry of one model.
nlohmann::json to_json(const ExportedModel& m);

}  // namespace nnjoule::zoo
