// The score tables (`nnjoule score --measurements M.csv --devices D.csv`): the input up to the
// first NUL byte is the measurements CSV, the rest the devices CSV. What they give is scored,
// and no number of the report may come out infinite or NaN.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "fuzz.hpp"
#include "nnjoule/score/scores.hpp"

namespace {

void check_finite(const nlohmann::json& j) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) {
    std::fprintf(stderr, "fuzz: a score report holds a number that is not finite\n");
    std::abort();
  }
  if (j.is_structured())
    for (const auto& v : j) check_finite(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  using namespace nnjoule::score;
  const auto text = nnjoule::fuzz::bytes(data, size);
  const size_t cut = text.find('\0');
  const fs::path dir = nnjoule::fuzz::scratch_dir();
  const fs::path m = dir / "measurements.csv", d = dir / "devices.csv";
  std::ofstream(m, std::ios::binary | std::ios::trunc) << text.substr(0, cut);
  const bool devices = cut != std::string_view::npos;
  if (devices) std::ofstream(d, std::ios::binary | std::ios::trunc) << text.substr(cut + 1);
  return nnjoule::fuzz::guarded([&] {
    ScoreInput in;
    add_results(in, read_measurements_csv(m));
    if (devices) in.devices = read_devices_csv(d);
    const ScoreReport report = compute_scores(in);
    (void)render_text(report);
    check_finite(to_json(report));
  });
}
