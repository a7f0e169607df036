#pragma once
// Rows the store tests write.
#include <string>

#include "nnjoule/store/store.hpp"

namespace nnjoule::testing {
using store::Device;
using store::kernel_key;
using store::KernelRow;

inline store::Device test_device() {
  Device d;
  d.name = "test-board";
  d.cpu = "Cortex-A76";
  d.arch = "aarch64";
  d.cores = 4;
  d.runtime = "XNNPACK";
  return d;
}

inline store::KernelRow kernel_row(int64_t run, int64_t device, int cin) {
  KernelRow r;
  r.run_id = run;
  r.device_id = device;
  r.kernel_type = "conv-bn-relu";
  r.config = kernels::KernelConfig{
      {"HW", 56}, {"CIN", cin}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
  r.key = kernel_key(r.kernel_type, *r.config, {{"threads", 1}});
  r.flops = 1.0e8 + cin;
  r.params = 1000 + cin;
  r.bytes = 4000;
  r.input_shapes = {{1, cin, 56, 56}};
  r.output_shapes = {{1, 64, 56, 56}};
  r.threads = 1;
  r.m.latency_ms = 2.5;
  r.m.energy_mj = 5.0;
  r.m.power_mw = 2000;
  r.m.n = 30;
  r.m.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  return r;
}

inline store::Run make_run(int64_t device, const std::string& kind, Origin origin,
                           const std::string& by) {
  store::Run r;
  r.device_id = device;
  r.kind = kind;
  r.provenance.origin = origin;
  r.provenance.by = by;
  r.settings = {{"threads", 1}};
  return r;
}

}  // namespace nnjoule::testing
