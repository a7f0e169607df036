// A whole predictor bundle. The input is predictor.json, optionally followed by files of the
// bundle as NUL-separated name, content pairs. manifest.json is written to match, so the
// content reaches every parser (the SHA-256 check is integrity, not a parser). What loads
// predicts a few kernels, which must come out positive and finite or be rejected.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "nnjoule/predict/bundle.hpp"

namespace {

namespace fs = std::filesystem;
using nnjoule::predict::Predictor;

// A file name the bundle may hold: plain, not the manifest itself.
bool plain_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n == "." || n == ".." || n == "manifest.json") return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return false;
  return true;
}

void check(const std::optional<double>& v) {
  if (v && !(std::isfinite(*v) && *v > 0)) {
    std::fprintf(stderr, "fuzz: a prediction that is not positive and finite: %g\n", *v);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = nnjoule::fuzz::bytes(data, size);
  const fs::path dir = fs::path(nnjoule::fuzz::scratch_dir()) / "bundle";
  fs::remove_all(dir);
  fs::create_directories(dir);
  nlohmann::json files = nlohmann::json::object();
  auto put = [&](const std::string& name, std::string_view text) {
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << text;
    files[name] = {{"sha256", nnjoule::predict::sha256_hex(text)}, {"bytes", text.size()}};
  };
  size_t at = in.find('\0');
  put("predictor.json", in.substr(0, at));
  while (at != std::string_view::npos) {
    const size_t name_end = in.find('\0', at + 1);
    if (name_end == std::string_view::npos) break;
    const std::string_view name = in.substr(at + 1, name_end - at - 1);
    at = in.find('\0', name_end + 1);
    const std::string_view text = in.substr(name_end + 1, at == in.npos ? at : at - name_end - 1);
    if (plain_name(name) && !files.contains(std::string(name))) put(std::string(name), text);
  }
  const nlohmann::json manifest = {{"format", "nnjoule-predictor-manifest"},
                                   {"format_version", nnjoule::predict::kBundleFormatVersion},
                                   {"nnjoule_version", "0.1.0"},
                                   {"algorithm", "sha256"},
                                   {"files", files}};
  std::ofstream(dir / "manifest.json", std::ios::trunc) << manifest.dump();
  return nnjoule::fuzz::guarded([&] {
    const Predictor p = Predictor::load(dir, Predictor::Load::kEager);
    using nnjoule::kernels::KernelConfig;
    const std::vector<nnjoule::predict::KernelInput> kernels = {
        {"a",
         "conv-bn-relu",
         KernelConfig{{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
         {},
         {}},
        {"b", "concat", KernelConfig{{"HW", 14}, {"CIN1", 32}, {"CIN2", 16}, {"NS", 2}}, {}, {}},
        {"c", "relu", KernelConfig{{"HW", 1000000}, {"CIN", 3}}, {}, {}},
        {"d", "unknown-type", KernelConfig{{"HW", 7}}, 1e6, 1e5}};
    for (const auto& k : p.predict_kernels(kernels)) {
      check(k.predicted.energy_mj);
      check(k.predicted.latency_ms);
      check(k.predicted.power_mw);
    }
  });
}
