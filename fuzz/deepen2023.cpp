// The DeepEn2023 importer. The input is up to four files of one kernel type, separated by NUL
// bytes: power, latency, energy and config JSON, laid out as the release has them.
#include <filesystem>
#include <fstream>

#include "importer_support.hpp"
#include "nnjoule/store/importers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  const std::string_view in = nnjoule::fuzz::bytes(data, size);
  const fs::path dir = fs::path(nnjoule::fuzz::scratch_dir()) / "release";
  fs::remove_all(dir);
  const fs::path files[] = {
      dir / "Kernel_power" / "fc_power.json", dir / "Kernel_latency" / "fc_latency.json",
      dir / "Kernel_energy" / "fc_energy.json", dir / "kernel_config" / "FC" / "fc_test.json"};
  size_t at = 0;
  for (const auto& f : files) {
    fs::create_directories(f.parent_path());
    const size_t end = at <= in.size() ? in.find('\0', at) : in.npos;
    std::ofstream(f, std::ios::binary | std::ios::trunc)
        << (at <= in.size() ? in.substr(at, end == in.npos ? end : end - at) : "");
    at = end == in.npos ? in.size() + 1 : end + 1;
  }
  return nnjoule::fuzz::guarded([&] {
    auto store = nnjoule::fuzz::fresh_store();
    const auto report = nnjoule::store::import_deepen2023(store, dir);
    nnjoule::fuzz::check_listed(report.errors);
    (void)report.to_json();
  });
}
