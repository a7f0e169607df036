#include "nnjoule/zoo/export.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"
#include "nnjoule/graph/onnx.hpp"

namespace nnjoule::zoo {
namespace {

constexpr int kManifestVersion = 1;

std::vector<std::string> expand_families(const std::vector<std::string>& requested) {
  if (requested.empty())
    fail("zoo export: no family given (known: {})", fmt::join(family_names(), ", "));
  std::vector<std::string> out;
  for (const auto& f : requested) {
    if (f == "all") {
      for (const auto& n : family_names())
        if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
      continue;
    }
    family(f);  // throws listing the known families
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  return out;
}

// The models already listed in DIR/manifest.json; an unreadable manifest is an error so that
// an export never silently drops what an earlier one recorded.
nlohmann::json read_manifest_models(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return nlohmann::json::array();
  nlohmann::json j =
      parse_json(read_file(path), path.string(), "move it away to export into this directory");
  if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) {
    fail("{}: not a zoo manifest (no \"models\" array)", path.string());
  }
  for (const auto& m : j["models"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string()) {
      fail("{}: a model entry has no \"name\" string", path.string());
    }
  }
  return j["models"];
}

}  // namespace

std::string agreement_origin(const QuantizeReport& q) {
  return fmt::format(
      "measured: int8 vs fp32 on {} synthetic inputs (uniform [-1, 1)), activation ranges from "
      "{} others",
      q.eval_inputs, q.calibration_inputs);
}

nlohmann::json to_json(const ExportedModel& m) {
  nlohmann::json j = {{"name", m.name},
                      {"family", m.family},
                      {"seed", m.seed},
                      {"variant", m.variant},
                      {"resolution", m.resolution},
                      {"file", m.file},
                      {"content_hash", m.content_hash},
                      {"parameters", m.counts.parameters},
                      {"flops", m.counts.flops},
                      {"kernels", m.counts.kernels}};
  j["dtype"] = m.dtype;
  if (m.quantize) {
    const QuantizeReport& q = *m.quantize;
    j["calibration_inputs"] = q.calibration_inputs;
    j["eval_inputs"] = q.eval_inputs;
    j["top1_agreement"] = q.top1_agreement;
    j["snr_db"] = q.snr_db;
    j["agreement_origin"] = agreement_origin(q);
  }
  return j;
}

std::vector<ExportedModel> export_models(
    const ExportRequest& r, const std::function<void(const ExportedModel&)>& progress) {
  const auto names = expand_families(r.families);
  if (r.variants < 0) fail("zoo export: --variants {} is negative", r.variants);
  if (r.sample_resolution && r.variants == 0) {
    fail("zoo export: sampling the resolution needs --variants (the base model has one)");
  }
  if (r.dir.empty()) fail("zoo export: no output directory");
  if (r.dtype != "fp32" && r.dtype != "int8") {
    fail("zoo export: --dtype '{}' is not fp32 or int8", r.dtype);
  }
  if (r.dtype == "int8" && !r.quantize.runner) {
    fail("zoo export: int8 needs a model runner for calibration");
  }

  std::vector<ModelSpec> specs;
  for (const auto& f : names) {
    if (r.variants == 0) {
      specs.push_back({.family = f, .resolution = r.resolution, .seed = r.seed});
    }
    for (int64_t k = 0; k < r.variants; ++k) {
      specs.push_back({.family = f,
                       .resolution = r.resolution,
                       .variant = k,
                       .seed = r.seed,
                       .sample_resolution = r.sample_resolution});
    }
  }
  // Build every model shape-only first (about a millisecond each): a bad resolution or family
  // fails before anything is written.
  for (auto s : specs) {
    s.materialize_weights = false;
    build_model(s);
  }
  const auto manifest_path = r.dir / "manifest.json";
  nlohmann::json old_models = read_manifest_models(manifest_path);
  ensure_directory(r.dir);

  std::vector<ExportedModel> done;
  nlohmann::json entries = nlohmann::json::array();
  auto write_manifest = [&] {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& m : old_models) {
      const auto name = m["name"].get<std::string>();
      const bool replaced = std::any_of(done.begin(), done.end(),
                                        [&](const ExportedModel& d) { return d.name == name; });
      if (!replaced) models.push_back(m);
    }
    for (const auto& e : entries) models.push_back(e);
    const std::string rules = done.empty() ? "" : done.back().counts.rules;
    nlohmann::json j = {{"version", kManifestVersion},
                        {"generator", "nnjoule zoo export"},
                        {"counts", {{"origin", "counted"}, {"fusion_rules", rules}}},
                        {"models", models}};
    write_file_atomic(manifest_path, j.dump(2) + "\n");
  };
  for (const auto& s : specs) {
    graph::Graph g = build_model(s);
    ExportedModel m;
    m.dtype = r.dtype;
    int64_t parameters = -1;
    if (r.dtype == "int8") {
      // Int8 weights are the same parameters; count_model counts float weights only.
      parameters = count_model(g).parameters;
      QuantizeReport rep;
      g = quantize_qdq(g, r.quantize, &rep);
      m.quantize = rep;
    }
    m.name = g.name;
    m.family = s.family;
    m.seed = s.seed;
    m.variant = s.variant;
    m.resolution = g.shape("input").at(2);
    m.file = g.name + ".onnx";
    const std::string bytes = graph::to_onnx_bytes(g);
    m.content_hash = content_hash(bytes);
    m.counts = count_model(g);
    if (parameters >= 0) m.counts.parameters = parameters;
    write_file_atomic(r.dir / m.file, bytes);
    done.push_back(m);
    entries.push_back(to_json(m));
    // The manifest is rewritten after every model: an interrupted export lists what it wrote.
    write_manifest();
    if (progress) progress(m);
  }
  return done;
}

}  // namespace nnjoule::zoo
