#pragma once
// Synthetic kernel datasets whose targets are exact functions of the config, so tests know the
// answer, and the start of a store fixture.
#include <string>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/predict/dataset.hpp"
#include "nnjoule/predict/features.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::predict::testing {

// energy = 2e-6 mJ per MFLOP-ish scale + traffic, latency = energy / 2.5 W, power = 2500 mW.
inline Targets synthetic_targets(const std::string& type, const kernels::KernelConfig& c) {
  const KernelSizes z = kernel_sizes(type, c);
  Targets t;
  t.energy_mj = 2e-8 * z.flops + 5e-8 * z.bytes + 0.001;
  t.latency_ms = *t.energy_mj / 2.5;
  t.power_mw = 2500;
  return t;
}

inline KernelDataset synthetic_dataset(size_t conv_rows = 120, size_t pool_rows = 30,
                                       uint64_t seed = 7) {
  KernelDataset ds;
  ds.device = DeviceInfo{"test-device", "xnnpack", 1, "estimate"};
  ds.source = "synthetic";
  Rng rng(seed);
  const int64_t hws[] = {7, 14, 28, 56};
  const int64_t chans[] = {16, 32, 64, 96, 128};
  for (size_t i = 0; i < conv_rows; ++i) {
    KernelSample s;
    s.id = "conv" + std::to_string(i);
    s.type = "conv-bn-relu";
    s.config = {{"HW", hws[rng.uniform_int(0, 3)]},
                {"CIN", chans[rng.uniform_int(0, 4)]},
                {"COUT", chans[rng.uniform_int(0, 4)]},
                {"KERNEL_SIZE", rng.uniform_int(0, 1) ? 3 : 1},
                {"STRIDES", rng.uniform_int(1, 2)}};
    s.targets = synthetic_targets(s.type, s.config);
    s.energy_origin = {Origin::kEstimated, "synthetic"};
    s.latency_origin = {Origin::kMeasured, "synthetic clock"};
    ds.samples.push_back(std::move(s));
  }
  for (size_t i = 0; i < pool_rows; ++i) {
    KernelSample s;
    s.id = "pool" + std::to_string(i);
    s.type = "maxpool";
    s.config = {{"HW", hws[rng.uniform_int(0, 3)]},
                {"CIN", chans[rng.uniform_int(0, 4)]},
                {"KERNEL_SIZE", 3},
                {"POOL_STRIDES", 2}};
    s.targets = synthetic_targets(s.type, s.config);
    s.energy_origin = {Origin::kEstimated, "synthetic"};
    s.latency_origin = {Origin::kMeasured, "synthetic clock"};
    ds.samples.push_back(std::move(s));
  }
  return ds;
}

// Concat rows of 1..8 inputs in both spellings the predictor meets: DeepEn2023's and
// nn-Meter's CIN1..CIN4 with zeros for absent inputs (2..4 inputs), and nnjoule's detected
// CIN1..CINn with NS (any count).
inline std::vector<KernelSample> concat_samples(size_t rows, uint64_t seed = 11) {
  std::vector<KernelSample> out;
  Rng rng(seed);
  const int64_t hws[] = {7, 14, 28, 56};
  const int64_t chans[] = {8, 16, 32, 64, 128};
  for (size_t i = 0; i < rows; ++i) {
    KernelSample s;
    s.id = "concat" + std::to_string(i);
    s.type = "concat";
    s.config.set("HW", hws[rng.uniform_int(0, 3)]);
    const bool deepen = i % 2 == 0;
    const int64_t n = deepen ? rng.uniform_int(2, 4) : rng.uniform_int(1, 8);
    for (int64_t k = 1; k <= (deepen ? 4 : n); ++k) {
      s.config.set("CIN" + std::to_string(k), k <= n ? chans[rng.uniform_int(0, 4)] : 0);
    }
    if (!deepen) s.config.set("NS", n);
    s.targets = synthetic_targets(s.type, s.config);
    s.energy_origin = {Origin::kEstimated, "synthetic"};
    s.latency_origin = {Origin::kMeasured, "synthetic clock"};
    out.push_back(std::move(s));
  }
  return out;
}

// One device (runtime XNNPACK) and an open "kernels" run of numbers the cpu-time model
// estimated at one thread: how the store fixtures of these tests begin.
struct KernelRun {
  int64_t device_id = 0;
  int64_t run_id = 0;
  Provenance provenance;
};

inline KernelRun begin_kernel_run(store::Store& s, const std::string& device_name) {
  store::Device d;
  d.name = device_name;
  d.runtime = "XNNPACK";
  store::Run run;
  run.device_id = s.ensure_device(d);
  run.kind = "kernels";
  run.provenance = {Origin::kEstimated, "cpu-time model"};
  run.settings = {{"threads", 1}};
  const int64_t run_id = s.begin_run(run);
  return {run.device_id, run_id, run.provenance};
}

// The samples of `ds` as kernel rows of a stored run (1 thread), ready for add_kernels.
inline std::vector<store::KernelRow> kernel_rows(const KernelDataset& ds, int64_t run_id,
                                                 int64_t device_id, const Provenance& origin) {
  std::vector<store::KernelRow> rows;
  for (const auto& k : ds.samples) {
    store::KernelRow r;
    r.run_id = run_id;
    r.device_id = device_id;
    r.kernel_type = k.type;
    r.config = k.config;
    r.threads = 1;
    r.key = store::kernel_key(k.type, k.config, {{"id", k.id}});
    r.m.energy_mj = k.targets.energy_mj;
    r.m.latency_ms = k.targets.latency_ms;
    r.m.power_mw = k.targets.power_mw;
    r.m.provenance = origin;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace nnjoule::predict::testing
