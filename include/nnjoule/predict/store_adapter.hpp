#pragma once
// Reads the predictor's datasets from an nnjoule energy dataset (store/): kernel rows of one
// device, kernels timed inside measured models, and measured models with their kernels.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/predict/dataset.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::predict {

// The device named `name` (exact, else a unique case-insensitive substring of its name); with
// no name, the only device that has kernel rows. Throws Error listing the devices otherwise.
store::Device select_device(const store::Store& db, const std::optional<std::string>& name);

struct StoreReadOptions {
  bool model_kernels = true;       // also rows of kernels timed inside measured models (latency)
  bool include_flagged = false;    // rows the store flagged (implausible power, ...) are left out
  std::optional<int64_t> threads;  // only rows at this thread count (default: the most common)
  // Put every model measurement at one host speed: its latencies and energy times the median
  // host-reference time of the device's model rows over its own. For a shared host whose speed
  // drifts over seconds. kAuto: when every model row has a reference; kOn: rows without one are
  // left out (an error when none has one).
  enum class HostSpeed { kAuto, kOn, kOff };
  HostSpeed host_speed = HostSpeed::kAuto;
};
// "auto" | "on" | "off"; throws Error naming the value otherwise.
StoreReadOptions::HostSpeed parse_host_speed(std::string_view name);

// What host-speed scaling the rows of `device` get under `o`, in one line for reports ("" when
// none): "model measurements at the median host speed (reference ... timed with each of 80;
// factors 0.87-1.12)".
std::string host_speed_note(const store::Store& db, const store::Device& device,
                            const StoreReadOptions& o, int64_t threads);

KernelDataset read_kernel_dataset(const store::Store& db, const store::Device& device,
                                  const StoreReadOptions& o = {});
// Measured models of the device at the dataset's thread count, with their kernels; the
// unfused per-op kernels come from rebuilding zoo models (left empty for other models).
std::vector<ModelSample> read_model_samples(const store::Store& db, const store::Device& device,
                                            const KernelDataset& kernels,
                                            const StoreReadOptions& o = {});

}  // namespace nnjoule::predict
